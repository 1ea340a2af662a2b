package wire

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"testing"
	"time"
)

// served is what the gateway's handler made of one request.
type served struct {
	method, uri string
	refused     bool // Check refused it
	body        []byte
	err         error // reading the body failed
}

// accepted reports whether the gateway would forward the request.
func (s served) accepted() bool { return !s.refused && s.err == nil }

// bodyGateway is the gateway's server-side stack for request bodies: a
// listener wrapped by NewListener, net/http's server with ConnContext and
// the general OPTIONS handler off, and a handler that calls Check first and
// then reads the body whole, as the proxy does. It records what it served
// by client address.
type bodyGateway struct {
	addr string
	mu   sync.Mutex
	seen map[string][]served
}

func startBodyGateway(tb testing.TB) *bodyGateway {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := &bodyGateway{addr: ln.Addr().String(), seen: make(map[string][]served)}
	srv := &http.Server{
		Handler:                      g,
		ConnContext:                  ConnContext,
		DisableGeneralOptionsHandler: true,
		ReadTimeout:                  10 * time.Second,
	}
	go srv.Serve(NewListener(ln))
	tb.Cleanup(func() { srv.Close() })
	return g
}

func (g *bodyGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := served{method: r.Method, uri: r.RequestURI}
	if Check(r) != nil {
		s.refused = true
	} else {
		s.body, s.err = io.ReadAll(r.Body)
	}
	g.mu.Lock()
	g.seen[r.RemoteAddr] = append(g.seen[r.RemoteAddr], s)
	g.mu.Unlock()
	if !s.accepted() {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
	}
}

// exchange sends payload on a new connection, half-closes it, waits for
// the gateway to close it, and returns what the handler served.
func (g *bodyGateway) exchange(t *testing.T, payload []byte) []served {
	t.Helper()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("gateway did not close the connection: %v (sent %q)", err, payload)
		}
	}
	key := c.LocalAddr().String()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.seen[key]
	delete(g.seen, key)
	return s
}

// readRequests frames payload as net/http's reader does, request after
// request, as Go's server reads a connection (up to 4 CR/LF skipped after
// a POST), until the first error, which is the last element's err.
func readRequests(payload []byte) (out []served, parseErr error) {
	br := bufio.NewReader(bytes.NewReader(payload))
	afterPost := false
	for {
		if afterPost {
			peek, _ := br.Peek(4)
			k := 0
			for k < len(peek) && (peek[k] == '\r' || peek[k] == '\n') {
				k++
			}
			br.Discard(k)
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(req.Body)
		out = append(out, served{method: req.Method, uri: req.RequestURI, body: b, err: err})
		if err != nil || req.Close {
			return out, nil
		}
		afterPost = req.Method == http.MethodPost
	}
}

// FuzzRequestBody is a differential test of request body framing: the same
// bytes go through the gateway's server-side stack (bodyGateway) and
// through plain http.ReadRequest. A POST with a chunked body (mode 0) or a
// Content-Length of mode bytes carries the fuzzed bytes, followed by a
// GET. The gateway must never accept a request or body net/http's reader
// refuses, nor frame the stream differently: every request it accepts is
// net/http's request of the same index, with the same body; and a chunked
// body it accepts is what httputil.NewChunkedReader decodes.
func FuzzRequestBody(f *testing.F) {
	for _, s := range []string{
		"3\r\nabc\r\n0\r\n\r\n",
		"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"3\nabc\r\n0\r\n\r\n",
		"3;ext=1\nabc\r\n0\r\n\r\n",
		"fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
		"-3\r\nabc\r\n0\r\n\r\n",
		"00000000000000003\r\nabc\r\n0\r\n\r\n",
		"0000000000000003\r\nabc\r\n0\r\n\r\n",
		"3\r\nabcde\r\n0\r\n\r\n",
		"3 \r\nabc\r\n0\r\n\r\n",
		"3 ;x\r\nabc\r\n0\r\n\r\n",
		"3\r\nabc\r\n0\r\n",
		"3\r\nabc",
		"0\r\n\r\n\r\n",
		"1;" + string(bytes.Repeat([]byte("x"), 5000)) + "\r\nz\r\n0\r\n\r\n",
		"3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
		"0\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Add([]byte("abc"), uint8(10))
	f.Add([]byte("abcdefghij"), uint8(3))
	f.Add([]byte("abc\r\n\r\nPOST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz"), uint8(3))
	g := startBodyGateway(f)
	const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		head := "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		if mode != 0 {
			head = "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(int(mode)) + "\r\n\r\n"
		}
		payload := append(append([]byte(head), body...), next...)
		want, _ := readRequests(payload)
		got := g.exchange(t, payload)
		for i, s := range got {
			if !s.accepted() {
				continue
			}
			if i >= len(want) {
				t.Fatalf("gateway accepted request %d (%s %s) that net/http never framed (net/http: %+v)", i, s.method, s.uri, want)
			}
			w := want[i]
			if w.err != nil {
				t.Fatalf("gateway accepted request %d (%s %s, body %q) whose body net/http refuses: %v", i, s.method, s.uri, s.body, w.err)
			}
			if s.method != w.method || s.uri != w.uri || !bytes.Equal(s.body, w.body) {
				t.Fatalf("request %d framed differently: gateway %s %s body %q, net/http %s %s body %q", i, s.method, s.uri, s.body, w.method, w.uri, w.body)
			}
		}
		if mode == 0 && len(got) > 0 && got[0].accepted() {
			// The body's bytes as the server read them: the GET after it
			// may be part of the chunked framing.
			dec, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(payload[len(head):])))
			if err != nil || !bytes.Equal(dec, got[0].body) {
				t.Fatalf("gateway accepted chunked body %q; httputil.NewChunkedReader: %q, %v", got[0].body, dec, err)
			}
		}
	})
}
