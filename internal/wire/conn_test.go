package wire_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
)

// served records what the test server's handler saw, in order.
type served struct {
	mu   sync.Mutex
	seen []string
}

func (s *served) add(line string) {
	s.mu.Lock()
	s.seen = append(s.seen, line)
	s.mu.Unlock()
}

func (s *served) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// startServer serves a handler that calls wire.Check first, as the gateway
// does, and records "METHOD /path" for requests that passed and
// "METHOD /path 400" for those refused. A request with "noread" in its
// query has its body left unread; others read it and answer 400 when it is
// malformed.
func startServer(t *testing.T, configure func(*http.Server)) (addr string, rec *served) {
	t.Helper()
	rec = &served{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := r.Method + " " + r.URL.Path
		if err := wire.Check(r); err != nil {
			var he *pipeline.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest || !he.Close || he.Code != pipeline.CodeBadRequest {
				t.Errorf("Check() = %#v, want a 400 HTTPError with Close", err)
			}
			rec.add(line + " 400")
			w.Header().Set("Connection", "close")
			http.Error(w, he.Message, http.StatusBadRequest)
			return
		}
		rec.add(line)
		if !strings.Contains(r.URL.RawQuery, "noread") {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				w.Header().Set("Connection", "close")
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
		}
		fmt.Fprintf(w, "ok %s", r.URL.Path)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           h,
		ConnContext:       wire.ConnContext,
		ReadHeaderTimeout: 5 * time.Second,
	}
	if configure != nil {
		configure(srv)
	}
	go srv.Serve(wire.NewListener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), rec
}

// exchange writes raw to a new connection and reads want responses. It
// returns their status codes and whether the server then closed the
// connection (as opposed to keeping it open for more).
func exchange(t *testing.T, addr, raw string, want int) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for len(statuses) < want {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, true
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		statuses = append(statuses, res.StatusCode)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = br.ReadByte()
	var ne net.Error
	return statuses, !(errors.As(err, &ne) && ne.Timeout())
}

func TestConnFraming(t *testing.T) {
	t.Parallel()
	const host = "Host: api.example.com\r\n"
	tests := []struct {
		name       string
		raw        string
		want       []int
		wantClosed bool
		wantSeen   []string
		configure  func(*http.Server)
	}{
		{
			name: "smuggling with both lengths",
			raw: "POST /a HTTP/1.1\r\n" + host + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\n" + host + "\r\n",
			want: []int{400}, wantClosed: true,
			wantSeen: []string{"POST /a 400"},
		},
		{
			name: "smuggling after a good request",
			raw: "GET /one HTTP/1.1\r\n" + host + "\r\n" +
				"POST /a HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\n" + host + "\r\n",
			want: []int{200, 400}, wantClosed: true,
			wantSeen: []string{"GET /one", "POST /a 400"},
		},
		{
			name:     "http/1.0 with transfer-encoding and content-length",
			raw:      "POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
			want:     []int{400},
			wantSeen: []string{"POST /a 400"}, wantClosed: true,
		},
		{
			name:     "http/1.0 with transfer-encoding",
			raw:      "POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.0\r\n\r\n",
			want:     []int{400},
			wantSeen: []string{"POST /a 400"}, wantClosed: true,
		},
		{
			name:     "obs-fold",
			raw:      "GET /a HTTP/1.1\r\n" + host + "X-Forwarded-For: 10.0.0.1\r\n 10.0.0.2\r\n\r\nGET /b HTTP/1.1\r\n" + host + "\r\n",
			want:     []int{400},
			wantSeen: []string{"GET /a 400"}, wantClosed: true,
		},
		{
			name:     "bare lf",
			raw:      "GET /a HTTP/1.1\n" + "Host: api.example.com\n\n",
			want:     []int{400},
			wantSeen: []string{"GET /a 400"}, wantClosed: true,
		},
		{
			name: "pipelined good requests",
			raw: "GET /one HTTP/1.1\r\n" + host + "\r\n" +
				"POST /two HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello" +
				"POST /three HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n" +
				"GET /four HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n",
			want:     []int{200, 200, 200, 200},
			wantSeen: []string{"GET /one", "POST /two", "POST /three", "GET /four"},
		},
		{
			name: "unread bodies keep sync",
			raw: "POST /one?noread HTTP/1.1\r\n" + host + "Content-Length: 38\r\n\r\nGET /smuggled HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n" +
				"POST /two?noread HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
				"GET /three HTTP/1.1\r\n" + host + "\r\n" +
				"GET /four HTTP/1.1\r\n" + host + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			want: []int{200, 200, 200, 400}, wantClosed: true,
			wantSeen: []string{"POST /one", "POST /two", "GET /three", "GET /four 400"},
		},
		{
			name: "malformed chunked body",
			raw: "POST /a HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\n" + host + "\r\n",
			want: []int{400}, wantClosed: true,
			wantSeen: []string{"POST /a"},
		},
		{
			name: "malformed chunked body unread",
			raw: "POST /a?noread HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\n" + host + "\r\n",
			want: []int{200}, wantClosed: true,
			wantSeen: []string{"POST /a"},
		},
		{
			name:     "crlf after post",
			raw:      "POST /a HTTP/1.1\r\n" + host + "Content-Length: 1\r\n\r\nx\r\nGET /b HTTP/1.1\r\n" + host + "\r\n",
			want:     []int{200, 200},
			wantSeen: []string{"POST /a", "GET /b"},
		},
		{
			name: "options star answered by go",
			raw:  "OPTIONS * HTTP/1.1\r\n" + host + "\r\nGET /b HTTP/1.1\r\n" + host + "\r\n",
			want: []int{200, 400}, wantClosed: true,
			wantSeen: []string{"GET /b 400"},
		},
		{
			name: "options star passed to handler",
			raw:  "OPTIONS * HTTP/1.1\r\n" + host + "\r\nGET /b HTTP/1.1\r\n" + host + "\r\n",
			want: []int{400}, wantClosed: true,
			wantSeen:  []string{"OPTIONS * 400"},
			configure: func(s *http.Server) { s.DisableGeneralOptionsHandler = true },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, rec := startServer(t, tt.configure)
			got, closed := exchange(t, addr, tt.raw, len(tt.want))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if closed != tt.wantClosed {
				t.Errorf("connection closed = %v, want %v", closed, tt.wantClosed)
			}
			if diff := cmp.Diff(tt.wantSeen, rec.list()); diff != "" {
				t.Errorf("handler saw (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConnExpectContinue checks that the scanner follows a body the client
// sends only after "100 Continue".
func TestConnExpectContinue(t *testing.T) {
	t.Parallel()
	addr, rec := startServer(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 36\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("first response = %v, %v; want 100 Continue", res, err)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n"+
		"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /bad HTTP/1.1\r\nHost: a\n\r\n")
	var got []int
	for range 3 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading response: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		got = append(got, res.StatusCode)
	}
	if diff := cmp.Diff([]int{200, 200, 400}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"POST /upload", "GET /next", "GET /bad 400"}, rec.list()); diff != "" {
		t.Errorf("handler saw (-want +got):\n%s", diff)
	}
}

// TestConnByteByByte sends requests one byte per write, so the server reads
// them in tiny pieces.
func TestConnByteByByte(t *testing.T) {
	t.Parallel()
	addr, rec := startServer(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.(*net.TCPConn).SetNoDelay(true)
	raw := "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	for i := range len(raw) {
		if _, err := c.Write([]byte{raw[i]}); err != nil {
			break // The server may close after the 400.
		}
	}
	br := bufio.NewReader(c)
	var got []int
	for range 2 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading response: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		got = append(got, res.StatusCode)
	}
	if diff := cmp.Diff([]int{200, 400}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"POST /a", "POST /b 400"}, rec.list()); diff != "" {
		t.Errorf("handler saw (-want +got):\n%s", diff)
	}
}

func TestCheckPasses(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/a", nil)
	if err := wire.Check(r); err != nil {
		t.Errorf("Check(unwrapped) = %v, want nil", err)
	}
	r.ProtoMajor, r.ProtoMinor = 2, 0
	if err := wire.Check(r); err != nil {
		t.Errorf("Check(HTTP/2) = %v, want nil", err)
	}
}

// stateConn is a connection that knows its TLS state, as the server's
// terminated TLS connections do.
type stateConn struct{ net.Conn }

func (stateConn) ConnectionState() tls.ConnectionState {
	return tls.ConnectionState{ServerName: "api.example.com"}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()

	plain := wire.Wrap(a)
	if _, ok := plain.(interface{ ConnectionState() tls.ConnectionState }); ok {
		t.Error("Wrap(plain conn) has ConnectionState; Go's server would take it for TLS")
	}
	if got := wire.Wrap(plain); got != plain {
		t.Error("Wrap(wrapped) wrapped again")
	}
	if nc := plain.(interface{ NetConn() net.Conn }).NetConn(); nc != a {
		t.Errorf("NetConn() = %v, want the wrapped conn", nc)
	}
	if err := plain.(interface{ CloseWrite() error }).CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("CloseWrite() on a pipe = %v, want ErrUnsupported", err)
	}

	tlsLike := wire.Wrap(stateConn{b})
	cs, ok := tlsLike.(interface{ ConnectionState() tls.ConnectionState })
	if !ok || cs.ConnectionState().ServerName != "api.example.com" {
		t.Error("Wrap lost ConnectionState")
	}
	ctx := wire.ConnContext(context.Background(), tlsLike)
	if ctx == context.Background() {
		t.Error("ConnContext ignored a wrapped TLS-state conn")
	}
	if ctx := wire.ConnContext(context.Background(), a); ctx != context.Background() {
		t.Error("ConnContext changed the context for an unwrapped conn")
	}
}

// TestWrapTLSState checks that Go's server still fills Request.TLS from a
// wrapped connection that knows its TLS state.
func TestWrapTLSState(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	names := make(chan string, 1)
	srv := &http.Server{
		ConnContext: wire.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := wire.Check(r); err != nil {
				t.Errorf("Check() = %v", err)
			}
			if r.TLS != nil {
				names <- r.TLS.ServerName
			}
			close(names)
		}),
	}
	go srv.Serve(wire.NewListener(stateListener{ln}))
	defer srv.Close()
	res, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := <-names; got != "api.example.com" {
		t.Errorf("Request.TLS.ServerName = %q, want api.example.com", got)
	}
}

type stateListener struct{ net.Listener }

func (l stateListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return stateConn{c}, nil
}
