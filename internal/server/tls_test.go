package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// testCert returns a self-signed certificate for 127.0.0.1 and a pool
// that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	c := testkit.NewCert(t, "127.0.0.1")
	return c.TLS, c.Roots
}

// tlsTestServer serves a handler over TLS the way Listen does, with the
// given limits. The handler reads the body and answers the protocol and
// whether it saw TLS.
type tlsTestServer struct {
	addr  string
	roots *x509.CertPool
	tl    *tlsListener
}

func startTLS(t *testing.T, lim config.Limits) *tlsTestServer {
	t.Helper()
	cert, roots := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
	})
	errLog := log.New(io.Discard, "", 0)
	tl, h2 := newTLS(ln, h, tcfg, lim, 64<<10, errLog, slog.New(slog.DiscardHandler))
	h1 := &http.Server{Handler: h, ReadHeaderTimeout: lim.ReadHeaderTimeout.D(), ErrorLog: errLog}
	go tl.run()
	go h2.Serve(tl.h2)
	go h1.Serve(tl.h1)
	t.Cleanup(func() {
		ln.Close()
		h1.Close()
		h2.Close()
	})
	return &tlsTestServer{addr: ln.Addr().String(), roots: roots, tl: tl}
}

func limits(header, read, idle time.Duration) config.Limits {
	return config.Limits{ReadHeaderTimeout: config.Duration(header), ReadTimeout: config.Duration(read), IdleTimeout: config.Duration(idle)}
}

func TestTLSServesBothProtocols(t *testing.T) {
	t.Parallel()
	s := startTLS(t, limits(time.Second, time.Minute, time.Minute))
	tests := []struct {
		name string
		h2   bool
		want string
	}{
		{"h2", true, "HTTP/2.0 tls=true"},
		{"http/1.1", false, "HTTP/1.1 tls=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}, ForceAttemptHTTP2: tt.h2}
			if !tt.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			body, _ := get(t, tr, "https://"+s.addr+"/")
			if body != tt.want {
				t.Errorf("answer = %q, want %q", body, tt.want)
			}
		})
	}
}

// TestH2IdleClientKept checks that the header bounds do not cut a healthy
// HTTP/2 client: it answers the pings, and its connection stays open
// between requests spaced wider than read_header_timeout.
func TestH2IdleClientKept(t *testing.T) {
	t.Parallel()
	const hdr = time.Second
	s := startTLS(t, limits(hdr, time.Minute, time.Minute))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	if body, _ := get(t, tr, "https://"+s.addr+"/"); !strings.HasPrefix(body, "HTTP/2.0") {
		t.Fatalf("first answer %q, want HTTP/2", body)
	}
	time.Sleep(3 * hdr)
	if _, reused := get(t, tr, "https://"+s.addr+"/"); !reused {
		t.Error("a healthy idle HTTP/2 connection was closed before idle_timeout")
	}
	if n := s.tl.pendingLen(); n != 0 {
		t.Errorf("%d connections still tracked for their first request", n)
	}
}

func get(t *testing.T, tr *http.Transport, url string) (body string, reused bool) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), reused
}

// HTTP/2 frame types and flags (RFC 9113, section 6).
const (
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
)

// h2Raw is a hand-driven HTTP/2 client over TLS. It answers the server's
// SETTINGS and PINGs unless muted, as a client in the middle of a header
// block must be, and records the frames it receives.
type h2Raw struct {
	conn   *tls.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	muted  bool
	frames []string // "type:stream" of each frame received
	// settingsAcked counts the server's SETTINGS frames answered.
	settingsAcked int
	closed        chan struct{}
}

func dialH2(t *testing.T, s *tlsTestServer) *h2Raw {
	t.Helper()
	conn, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.roots, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	c := &h2Raw{conn: conn, closed: make(chan struct{})}
	c.write(t, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	c.frame(t, frameSettings, 0, 0, nil)
	go c.read()
	return c
}

func (c *h2Raw) write(t *testing.T, b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write(b); err != nil && t != nil {
		t.Errorf("writing to the server: %v", err)
	}
}

func (c *h2Raw) frame(t *testing.T, typ, flags byte, stream uint32, payload []byte) {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
	c.write(t, append(b, payload...))
}

func (c *h2Raw) read() {
	defer close(c.closed)
	br := bufio.NewReader(c.conn)
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		typ, flags, stream := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&0x7fffffff
		c.mu.Lock()
		c.frames = append(c.frames, fmt.Sprintf("%d:%d", typ, stream))
		muted := c.muted
		c.mu.Unlock()
		if muted || flags&flagAck != 0 {
			continue
		}
		switch typ {
		case frameSettings:
			c.frame(nil, frameSettings, flagAck, 0, nil)
			c.mu.Lock()
			c.settingsAcked++
			c.mu.Unlock()
		case framePing:
			c.frame(nil, framePing, flagAck, 0, payload)
		}
	}
}

// startHeaderBlock waits until the server's SETTINGS are answered, then
// mutes the client: from here on it may send only the frames of a header
// block, as a client in the middle of one must.
func (c *h2Raw) startHeaderBlock(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		if c.settingsAcked > 0 {
			c.muted = true
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the server sent no SETTINGS")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *h2Raw) saw(typ byte, stream uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.frames {
		if f == fmt.Sprintf("%d:%d", typ, stream) {
			return true
		}
	}
	return false
}

// waitClosed returns how long the server took to close the connection,
// failing the test if it kept it open for d.
func (c *h2Raw) waitClosed(t *testing.T, since time.Time, d time.Duration) time.Duration {
	t.Helper()
	select {
	case <-c.closed:
		return time.Since(since)
	case <-time.After(d):
		t.Fatalf("the server kept the connection open for %v", d)
		return 0
	}
}

// headerBlock is an HPACK block of literal fields without indexing (RFC
// 7541, section 6.2.2), so it can be cut anywhere.
func headerBlock(fields ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, 0x00)
		b = appendHPACKString(b, fields[i])
		b = appendHPACKString(b, fields[i+1])
	}
	return b
}

func appendHPACKString(b []byte, s string) []byte {
	// A 7-bit prefix integer (RFC 7541, section 5.1), no Huffman coding.
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n%128+128))
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}

func request(path string, extra ...string) []byte {
	return headerBlock(append([]string{":method", "POST", ":scheme", "https", ":path", path, ":authority", "127.0.0.1"}, extra...)...)
}

// TestH2Slowloris opens HTTP/2 connections that hold the server without
// finishing a request: each must be cut long before idle_timeout and
// read_timeout's defaults would.
func TestH2Slowloris(t *testing.T) {
	t.Parallel()
	const hdr = 300 * time.Millisecond
	// Far beyond what the test waits: only the header bounds can act.
	const long = 10 * time.Minute
	tests := []struct {
		name string
		lim  config.Limits
		// run misbehaves on c and returns when the clock starts.
		run func(t *testing.T, c *h2Raw) time.Time
		// stream, when not 0, is a stream that must be answered or reset
		// while the connection may stay.
		stream uint32
		// minClose is how long the connection must at least last.
		minClose time.Duration
	}{
		{
			name:     "no request at all",
			lim:      limits(hdr, long, long),
			run:      func(t *testing.T, c *h2Raw) time.Time { return time.Now() },
			minClose: hdr / 2,
		},
		{
			name: "first header never finished",
			lim:  limits(hdr, long, long),
			run: func(t *testing.T, c *h2Raw) time.Time {
				c.startHeaderBlock(t)
				c.frame(t, frameHeaders, flagEndStream, 1, request("/")[:5])
				return time.Now()
			},
			minClose: hdr / 2,
		},
		{
			name: "header trickled after a request",
			lim:  limits(hdr, long, long),
			run: func(t *testing.T, c *h2Raw) time.Time {
				c.frame(t, frameHeaders, flagEndStream|flagEndHeaders, 1, request("/"))
				deadline := time.Now().Add(10 * time.Second)
				for !c.saw(frameHeaders, 1) {
					if time.Now().After(deadline) {
						t.Fatal("the first request got no answer")
					}
					time.Sleep(10 * time.Millisecond)
				}
				// Mid-header-block, a client may send nothing but
				// CONTINUATION frames: not even a ping answer.
				c.startHeaderBlock(t)
				block := request("/slow", "x-padding", strings.Repeat("a", 4000))
				c.frame(t, frameHeaders, flagEndStream, 3, block[:1])
				start := time.Now()
				go func() {
					for _, b := range block[1:] {
						select {
						case <-c.closed:
							return
						case <-time.After(50 * time.Millisecond):
						}
						c.wmu.Lock()
						_, err := c.conn.Write([]byte{0, 0, 1, frameContinuation, 0, 0, 0, 0, 3, b})
						c.wmu.Unlock()
						if err != nil {
							return
						}
					}
				}()
				return start
			},
		},
		{
			name: "body never sent",
			lim:  limits(hdr, 500*time.Millisecond, long),
			run: func(t *testing.T, c *h2Raw) time.Time {
				c.frame(t, frameHeaders, flagEndHeaders, 1, request("/upload"))
				return time.Now()
			},
			stream: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startTLS(t, tt.lim)
			c := dialH2(t, s)
			start := tt.run(t, c)
			if tt.stream != 0 {
				deadline := time.Now().Add(20 * time.Second)
				for !c.saw(frameHeaders, tt.stream) && !c.saw(frameRSTStream, tt.stream) {
					if time.Now().After(deadline) {
						t.Fatalf("stream %d still open after 20s", tt.stream)
					}
					time.Sleep(10 * time.Millisecond)
				}
				return
			}
			d := c.waitClosed(t, start, 20*time.Second)
			t.Logf("closed after %v", d)
			if d < tt.minClose {
				t.Errorf("closed after %v, before read_header_timeout %v", d, hdr)
			}
		})
	}
}
