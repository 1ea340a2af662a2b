package engine

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// handshakeListener does the TLS handshake of every connection before
// Accept returns it, as the gateway's TLS listener does, and hides the
// *tls.Conn's type while keeping its ConnectionState.
type handshakeListener struct {
	net.Listener
	cfg *tls.Config
}

type stateConn struct{ *tls.Conn }

func (l handshakeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := tls.Server(c, l.cfg)
		if err := tc.Handshake(); err != nil {
			c.Close()
			continue
		}
		return stateConn{tc}, nil
	}
}

// TestTLSConnectionState: every request on a TLS connection carries the
// connection's state as Request.TLS (what mTLS authentication and
// X-Forwarded-Proto read), the same for each request of the connection; a
// plain connection's requests carry none.
func TestTLSConnectionState(t *testing.T) {
	seen := make(chan *tls.ConnectionState, 4)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.TLS
		if r.TLS != nil {
			fmt.Fprintf(w, "tls %s %v", r.TLS.ServerName, r.TLS.HandshakeComplete)
		} else {
			io.WriteString(w, "plain")
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{testkit.NewCert(t, "gantry.test").TLS}, NextProtos: []string{"http/1.1"}}
	done := make(chan struct{})
	go func() { s.Serve(handshakeListener{ln, cfg}); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, ServerName: "gantry.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var states []*tls.ConnectionState
	for i := 0; i < 2; i++ {
		io.WriteString(c, "GET /a HTTP/1.1\r\nHost: gantry.test\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		if string(body) != "tls gantry.test true" {
			t.Fatalf("request %d: body %q", i, body)
		}
		states = append(states, <-seen)
	}
	if states[0] == nil || states[0] != states[1] {
		t.Fatalf("the connection's requests got states %p and %p, want one", states[0], states[1])
	}
	if states[0].NegotiatedProtocol != "http/1.1" || states[0].Version != tls.VersionTLS13 {
		t.Fatalf("state: protocol %q, version %x", states[0].NegotiatedProtocol, states[0].Version)
	}

	plain := startEngine(t, &Server{Handler: s.Handler})
	pc, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	io.WriteString(pc, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(pc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if !strings.HasPrefix(string(body), "plain") || <-seen != nil {
		t.Fatalf("plain connection: body %q", body)
	}
}
