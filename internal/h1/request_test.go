package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSupports(t *testing.T) {
	t.Parallel()
	body := func(n int) io.ReadCloser { return io.NopCloser(strings.NewReader(strings.Repeat("x", n))) }
	base := func() *http.Request {
		return &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: "orders.internal:8080", Path: "/v1/orders"}, Header: http.Header{}}
	}
	tests := []struct {
		name string
		edit func(r *http.Request)
		want bool
	}{
		{"plain GET", func(r *http.Request) {}, true},
		{"empty method", func(r *http.Request) { r.Method = "" }, true},
		{"HEAD", func(r *http.Request) { r.Method = http.MethodHead }, true},
		{"OPTIONS", func(r *http.Request) { r.Method = http.MethodOptions }, true},
		{"TRACE", func(r *http.Request) { r.Method = http.MethodTrace }, true},
		{"DELETE without body", func(r *http.Request) { r.Method = http.MethodDelete }, true},
		{"POST with NoBody", func(r *http.Request) { r.Method, r.Body = http.MethodPost, http.NoBody }, true},
		{"POST with small body", func(r *http.Request) { r.Method, r.Body, r.ContentLength = http.MethodPost, body(5), 5 }, true},
		{"PUT body of MaxBody", func(r *http.Request) { r.Method, r.Body, r.ContentLength = http.MethodPut, body(MaxBody), MaxBody }, true},
		{"GET with body", func(r *http.Request) { r.Body, r.ContentLength = body(4), 4 }, true},
		{"https", func(r *http.Request) { r.URL.Scheme = "https" }, false},
		{"h2c scheme", func(r *http.Request) { r.URL.Scheme = "h2c" }, false},
		{"ws scheme", func(r *http.Request) { r.URL.Scheme = "ws" }, false},
		{"uppercase scheme", func(r *http.Request) { r.URL.Scheme = "HTTP" }, false},
		{"no host", func(r *http.Request) { r.URL.Host = "" }, false},
		{"nil URL", func(r *http.Request) { r.URL = nil }, false},
		{"user info", func(r *http.Request) { r.URL.User = url.UserPassword("admin", "secret") }, false},
		{"opaque URL", func(r *http.Request) { r.URL.Opaque = "//orders.internal/v1" }, false},
		{"CONNECT", func(r *http.Request) { r.Method = http.MethodConnect }, false},
		{"extension method", func(r *http.Request) { r.Method = "PROPFIND" }, false},
		{"lowercase method", func(r *http.Request) { r.Method = "get" }, false},
		{"Upgrade header", func(r *http.Request) { r.Header.Set("Upgrade", "websocket") }, false},
		{"h2c upgrade", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, false},
		{"Expect header", func(r *http.Request) { r.Header.Set("Expect", "100-continue") }, false},
		{"chunked body", func(r *http.Request) {
			r.Method, r.Body, r.ContentLength, r.TransferEncoding = http.MethodPost, body(5), 5, []string{"chunked"}
		}, false},
		{"unknown length body", func(r *http.Request) { r.Method, r.Body, r.ContentLength = http.MethodPost, body(5), -1 }, false},
		{"body with zero length", func(r *http.Request) { r.Method, r.Body, r.ContentLength = http.MethodPost, body(5), 0 }, false},
		{"body over MaxBody", func(r *http.Request) {
			r.Method, r.Body, r.ContentLength = http.MethodPost, body(MaxBody+1), MaxBody+1
		}, false},
		{"length without body", func(r *http.Request) { r.Method, r.ContentLength = http.MethodPost, 5 }, false},
		{"trailer", func(r *http.Request) {
			r.Method, r.Body, r.ContentLength = http.MethodPost, body(5), 5
			r.Trailer = http.Header{"X-Checksum": nil}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tt.edit(r)
			if got := (&Transport{}).Supports(r); got != tt.want {
				t.Errorf("Supports() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSendUnsupported checks that a refused request sends nothing and
// leaves its body to the caller, who falls back to net/http with it.
func TestSendUnsupported(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := newTransport(t, nil)
	for _, req := range []*http.Request{
		newRequest(t, http.MethodConnect, srv.URL, ""),
		func() *http.Request {
			r := newRequest(t, http.MethodGet, srv.URL, "")
			r.Header.Set("Upgrade", "websocket")
			return r
		}(),
	} {
		if _, err := tr.Send(context.Background(), req, nil); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Send(%s, %v) error = %v, want ErrUnsupported", req.Method, req.Header, err)
		}
	}
	body := &closeTracker{Reader: strings.NewReader("{}")}
	req := newRequest(t, http.MethodPost, srv.URL, "")
	req.Body, req.ContentLength = body, -1
	if _, err := tr.Send(context.Background(), req, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Send(unknown length) error = %v, want ErrUnsupported", err)
	}
	if body.closed.Load() {
		t.Error("Send() closed the body of a refused request")
	}
	if n := srv.conns.Load(); n != 0 {
		t.Errorf("server accepted %d connections, want 0", n)
	}
}

// wireRequest is a request as written, with its header lines sorted (the
// header map has no order).
type wireRequest struct {
	Line   string
	Header []string
	Body   string
}

func parseWire(t *testing.T, raw string) wireRequest {
	t.Helper()
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of header in %q", raw)
	}
	lines := strings.Split(head, "\r\n")
	h := lines[1:]
	slices.Sort(h)
	return wireRequest{Line: lines[0], Header: h, Body: body}
}

// write builds req's head and writes the request as a round trip does.
func write(req *http.Request) (string, error) {
	head, err := appendHead(nil, req, nil)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err = writeRequest(bufio.NewWriter(&buf), head, req)
	return buf.String(), err
}

func TestWriteRequest(t *testing.T) {
	t.Parallel()
	target := func(path string) *url.URL { return &url.URL{Scheme: "http", Host: "10.0.0.7:8080", Path: path} }
	body := func(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
	tests := []struct {
		name string
		req  *http.Request
		want wireRequest
	}{
		{
			name: "Host from req.Host",
			req:  &http.Request{Method: "GET", URL: target("/v1/orders"), Host: "api.example.com"},
			want: wireRequest{"GET /v1/orders HTTP/1.1", []string{"Host: api.example.com"}, ""},
		},
		{
			name: "Host from URL",
			req:  &http.Request{Method: "GET", URL: target("/v1/orders")},
			want: wireRequest{"GET /v1/orders HTTP/1.1", []string{"Host: 10.0.0.7:8080"}, ""},
		},
		{
			name: "empty method and path",
			req:  &http.Request{URL: target("")},
			want: wireRequest{"GET / HTTP/1.1", []string{"Host: 10.0.0.7:8080"}, ""},
		},
		{
			name: "query",
			req:  &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "a", Path: "/search", RawQuery: "q=caf%C3%A9&page=2"}},
			want: wireRequest{"GET /search?q=caf%C3%A9&page=2 HTTP/1.1", []string{"Host: a"}, ""},
		},
		{
			name: "ForceQuery with empty query",
			req:  &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "a", Path: "/search", ForceQuery: true}},
			want: wireRequest{"GET /search? HTTP/1.1", []string{"Host: a"}, ""},
		},
		{
			name: "path is escaped",
			req:  &http.Request{Method: "GET", URL: target("/files/annual report?.pdf")},
			want: wireRequest{"GET /files/annual%20report%3F.pdf HTTP/1.1", []string{"Host: 10.0.0.7:8080"}, ""},
		},
		{
			name: "RawPath kept",
			req:  &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "a", Path: "/repos/gantry/a/b", RawPath: "/repos/gantry/a%2Fb"}},
			want: wireRequest{"GET /repos/gantry/a%2Fb HTTP/1.1", []string{"Host: a"}, ""},
		},
		{
			name: "framing headers of the map are not written",
			req: &http.Request{Method: "GET", URL: target("/"), Header: http.Header{
				"Content-Length":    {"999"},
				"Transfer-Encoding": {"chunked"},
				"Host":              {"evil.example"},
				"Trailer":           {"X-Checksum"},
				"Accept":            {"application/json"},
			}},
			want: wireRequest{"GET / HTTP/1.1", []string{"Accept: application/json", "Host: 10.0.0.7:8080"}, ""},
		},
		{
			name: "empty User-Agent is omitted",
			req:  &http.Request{Method: "GET", URL: target("/"), Header: http.Header{"User-Agent": {""}}},
			want: wireRequest{"GET / HTTP/1.1", []string{"Host: 10.0.0.7:8080"}, ""},
		},
		{
			name: "User-Agent kept",
			req:  &http.Request{Method: "GET", URL: target("/"), Header: http.Header{"User-Agent": {"gantry-probe/1.0"}}},
			want: wireRequest{"GET / HTTP/1.1", []string{"Host: 10.0.0.7:8080", "User-Agent: gantry-probe/1.0"}, ""},
		},
		{
			name: "values of one name on separate lines",
			req:  &http.Request{Method: "GET", URL: target("/"), Header: http.Header{"X-Forwarded-For": {"203.0.113.9", "10.1.2.3"}}},
			want: wireRequest{"GET / HTTP/1.1", []string{"Host: 10.0.0.7:8080", "X-Forwarded-For: 10.1.2.3", "X-Forwarded-For: 203.0.113.9"}, ""},
		},
		{
			name: "Close asks to close",
			req:  &http.Request{Method: "GET", URL: target("/"), Close: true},
			want: wireRequest{"GET / HTTP/1.1", []string{"Connection: close", "Host: 10.0.0.7:8080"}, ""},
		},
		{
			name: "Close with a Connection header of its own",
			req:  &http.Request{Method: "GET", URL: target("/"), Close: true, Header: http.Header{"Connection": {"close"}}},
			want: wireRequest{"GET / HTTP/1.1", []string{"Connection: close", "Host: 10.0.0.7:8080"}, ""},
		},
		{
			name: "POST with body",
			req:  &http.Request{Method: "POST", URL: target("/v1/orders"), Body: body(`{"sku":"A-1"}`), ContentLength: 13},
			want: wireRequest{"POST /v1/orders HTTP/1.1", []string{"Content-Length: 13", "Host: 10.0.0.7:8080"}, `{"sku":"A-1"}`},
		},
		{
			name: "GET with body",
			req:  &http.Request{Method: "GET", URL: target("/"), Body: body("ping"), ContentLength: 4},
			want: wireRequest{"GET / HTTP/1.1", []string{"Content-Length: 4", "Host: 10.0.0.7:8080"}, "ping"},
		},
		{
			// A body longer than it claims must not leak a second request.
			name: "body longer than its length is cut",
			req:  &http.Request{Method: "POST", URL: target("/"), Body: body("helloGET /admin HTTP/1.1\r\n\r\n"), ContentLength: 5},
			want: wireRequest{"POST / HTTP/1.1", []string{"Content-Length: 5", "Host: 10.0.0.7:8080"}, "hello"},
		},
	}
	// net/http's rule: only the methods servers expect a body for.
	for _, m := range []string{"POST", "PUT", "PATCH"} {
		tests = append(tests, struct {
			name string
			req  *http.Request
			want wireRequest
		}{
			name: m + " without body gets a zero length",
			req:  &http.Request{Method: m, URL: target("/"), Body: http.NoBody},
			want: wireRequest{m + " / HTTP/1.1", []string{"Content-Length: 0", "Host: 10.0.0.7:8080"}, ""},
		})
	}
	for _, m := range []string{"GET", "HEAD", "DELETE", "OPTIONS"} {
		tests = append(tests, struct {
			name string
			req  *http.Request
			want wireRequest
		}{
			name: m + " without body gets no length",
			req:  &http.Request{Method: m, URL: target("/"), Body: http.NoBody},
			want: wireRequest{m + " / HTTP/1.1", []string{"Host: 10.0.0.7:8080"}, ""},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := write(tt.req)
			if err != nil {
				t.Fatalf("writeRequest() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, parseWire(t, raw)); diff != "" {
				t.Errorf("writeRequest() wrote %q; diff (-want +got):\n%s", raw, diff)
			}
		})
	}
}

func TestWriteRequestRefuses(t *testing.T) {
	t.Parallel()
	target := &url.URL{Scheme: "http", Host: "10.0.0.7:8080", Path: "/"}
	tests := []struct {
		name string
		req  *http.Request
	}{
		{"CR LF in value", &http.Request{URL: target, Header: http.Header{"X-Note": {"a\r\nX-Admin: true"}}}},
		{"LF in value", &http.Request{URL: target, Header: http.Header{"X-Note": {"a\nX-Admin: true"}}}},
		{"CR in value", &http.Request{URL: target, Header: http.Header{"X-Note": {"a\rb"}}}},
		{"NUL in value", &http.Request{URL: target, Header: http.Header{"X-Note": {"a\x00b"}}}},
		{"DEL in value", &http.Request{URL: target, Header: http.Header{"X-Note": {"a\x7fb"}}}},
		{"CR LF in User-Agent", &http.Request{URL: target, Header: http.Header{"User-Agent": {"x\r\nX-Admin: true"}}}},
		{"space in name", &http.Request{URL: target, Header: http.Header{"X Note": {"a"}}}},
		{"colon in name", &http.Request{URL: target, Header: http.Header{"X-Admin: true\r\nX-Note": {"a"}}}},
		{"empty name", &http.Request{URL: target, Header: http.Header{"": {"a"}}}},
		{"CR LF in Host", &http.Request{URL: target, Host: "a\r\nX-Admin: true"}},
		{"space in Host", &http.Request{URL: target, Host: "a b"}},
		{"slash in Host", &http.Request{URL: target, Host: "a/b"}},
		{"relative path", &http.Request{URL: &url.URL{Scheme: "http", Host: "a", Path: "orders"}}},
		{"space in query", &http.Request{URL: &url.URL{Scheme: "http", Host: "a", Path: "/", RawQuery: "q=a b"}}},
		{"CR LF in query", &http.Request{URL: &url.URL{Scheme: "http", Host: "a", Path: "/", RawQuery: "q=a\r\nX-Admin: true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := write(tt.req)
			if err == nil {
				t.Fatalf("writeRequest() wrote %q, want an error", raw)
			}
			if strings.Contains(raw, "X-Admin") {
				t.Errorf("writeRequest() flushed the injected line: %q", raw)
			}
		})
	}
}

func TestWriteRequestShortBody(t *testing.T) {
	t.Parallel()
	body := &closeTracker{Reader: strings.NewReader("abc")}
	req := &http.Request{Method: "POST", URL: &url.URL{Scheme: "http", Host: "a", Path: "/"}, Body: body, ContentLength: 10}
	if _, err := write(req); err == nil {
		t.Error("writeRequest() of a 3-byte body with length 10: no error")
	}
	if !body.closed.Load() {
		t.Error("writeRequest() left the request body open")
	}
}

// TestRequestOnTheWire checks what an upstream receives, byte for byte.
func TestRequestOnTheWire(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		var raw bytes.Buffer
		req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(br, &raw)))
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		got <- raw.String()
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		drain(c)
	})
	tr := newTransport(t, nil)
	body := &closeTracker{Reader: strings.NewReader(`{"sku":"A-1","qty":2}`)}
	req := newRequest(t, http.MethodPost, srv.url()+"/v1/orders?dry_run=1", "")
	req.Body, req.ContentLength = body, 21
	req.Host = "shop.example.com"
	req.Close = true
	req.Header = http.Header{
		"Content-Type":      {"application/json"},
		"Content-Length":    {"5"},
		"Transfer-Encoding": {"chunked"},
		"User-Agent":        {""},
	}
	res, err := tr.Send(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	res.Body.Close()
	want := wireRequest{
		Line:   "POST /v1/orders?dry_run=1 HTTP/1.1",
		Header: []string{"Connection: close", "Content-Length: 21", "Content-Type: application/json", "Host: shop.example.com"},
		Body:   `{"sku":"A-1","qty":2}`,
	}
	if diff := cmp.Diff(want, parseWire(t, recv(t, got, "request"))); diff != "" {
		t.Errorf("upstream received (-want +got):\n%s", diff)
	}
	if !body.closed.Load() {
		t.Error("Send() left the request body open")
	}
	if n := tr.IdleConns(); n != 0 {
		t.Errorf("IdleConns() = %d after a request with Close, want 0", n)
	}
}

// TestSendRefusesInjection checks that a header that would split lines
// fails the request and nothing reaches the upstream.
func TestSendRefusesInjection(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen() error: %v", err)
	}
	defer ln.Close()
	// Connections are read one after another to their end, so once the
	// last one (ours) was read every earlier one was.
	const last = "last connection"
	received := make(chan []string, 1)
	go func() {
		var got []string
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(wait))
			b, _ := io.ReadAll(c)
			c.Close()
			if string(b) == last {
				received <- got
				return
			}
			got = append(got, string(b))
		}
	}()
	tr := newTransport(t, nil)
	for _, h := range []http.Header{
		{"X-Note": {"a\r\nX-Admin: true"}},
		{"X-Admin: true\r\nX-Note": {"a"}},
	} {
		req := newRequest(t, http.MethodGet, "http://"+ln.Addr().String()+"/", "")
		req.Header = h
		if res, err := tr.Send(context.Background(), req, nil); err == nil {
			res.Body.Close()
			t.Errorf("Send(header %q) succeeded, want an error", h)
		}
	}
	tr.CloseIdleConnections()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("Dial() error: %v", err)
	}
	io.WriteString(c, last)
	c.Close()
	for _, b := range recv(t, received, "end of the connections") {
		if b != "" {
			t.Errorf("upstream received %q, want nothing", b)
		}
	}
}

// partialWaiter is a waitWriter that writes at most n bytes, as a socket
// does when it takes a write in part or fails it.
type partialWaiter struct {
	net.Conn
	n, calls int
}

func (p *partialWaiter) WriteAndWait(b []byte) int {
	p.calls++
	m, _ := p.Conn.Write(b[:min(p.n, len(b))])
	return m
}

// TestSendWriteAndWait: a request with no body on a reused connection goes
// through WriteAndWait, and what it did not write goes out the ordinary
// way, every byte once; other requests are written the ordinary way.
func TestSendWriteAndWait(t *testing.T) {
	cases := []struct {
		name      string
		takes     int
		reused    bool
		body      string
		wantCalls int
	}{
		{"whole", 1 << 20, true, "", 1},
		{"in part", 7, true, "", 1},
		{"nothing", 0, true, "", 1},
		{"with a body", 1 << 20, true, "payload", 0},
		{"new connection", 1 << 20, false, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1)
			go func() {
				a, err := ln.Accept()
				if err != nil {
					got <- ""
					return
				}
				defer a.Close()
				b, _ := io.ReadAll(a)
				got <- string(b)
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			pw := &partialWaiter{Conn: nc, n: tc.takes}
			c := &conn{nc: pw, raw: nc, limit: -1, reused: tc.reused}
			c.bw = bufio.NewWriterSize(writer{c}, 4<<10)
			req := newRequest(t, http.MethodPost, "http://upstream.test/x", tc.body)
			head, err := appendHead(nil, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.send(head, req); err != nil {
				t.Fatal(err)
			}
			nc.Close()
			want := string(head) + tc.body
			if g := recv(t, got, "the request"); g != want {
				t.Fatalf("upstream got %q, want %q", g, want)
			}
			if pw.calls != tc.wantCalls || c.wrote != int64(len(want)) {
				t.Fatalf("WriteAndWait called %d times (want %d), wrote %d (want %d)", pw.calls, tc.wantCalls, c.wrote, len(want))
			}
		})
	}
}
