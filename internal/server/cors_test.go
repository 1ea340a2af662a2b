package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestServeHTTPCORSOnEveryAnswer: on a route with cors, the gateway's own
// errors carry the CORS headers exactly as relayed answers do, for an
// allowed origin and for no other; answers given before a route is chosen
// (404, 405) carry none.
func TestServeHTTPCORSOnEveryAnswer(t *testing.T) {
	t.Parallel()
	e := testkit.NewEcho(t, "app")
	// A listener closed at once: connections to it are refused (502).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	s := newServer(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
auth:
  jwt:
    - name: corp
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
upstreams:
  app: {targets: [{url: %q}]}
  dead: {targets: [{url: %q}]}
routes:
  - name: open
    match: {path_prefix: /open, methods: [GET, POST]}
    upstream: app
    max_body_bytes: 8
    cors: {origins: ["https://app.example.com"], expose_headers: [X-Total]}
  - name: limited
    match: {path_prefix: /limited}
    upstream: app
    rate_limit: {requests: 1, per: 1h}
    cors: {origins: ["https://app.example.com"]}
  - name: private
    match: {path_prefix: /private}
    upstream: app
    auth: [jwt:corp]
    cors: {origins: ["https://app.example.com"]}
  - name: broken
    match: {path_prefix: /broken}
    upstream: dead
    cors: {origins: ["https://app.example.com"]}
`, hygieneSecret, e.URL, dead))
	// Spend the limited route's one token.
	if res := serveOnce(t, s, "GET", "/limited/a"); res.StatusCode != 200 {
		t.Fatalf("first request on the limited route = %d", res.StatusCode)
	}

	const allowed = "https://app.example.com"
	const expose = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
	tests := []struct {
		name   string
		method string
		target string
		body   string
		status int
		// cors says whether an allowed origin gets the CORS headers.
		cors   bool
		expose string
		// also are headers the answer must carry besides.
		also []string
	}{
		{"relayed answer", "GET", "/open/a", "", 200, true, "X-Total, " + expose, nil},
		{"413 body too large", "POST", "/open/a", "0123456789", 413, true, "X-Total, " + expose, nil},
		{"400 encoded slash", "GET", "/open/a%2Fb", "", 400, true, "X-Total, " + expose, nil},
		{"429 rate limited", "GET", "/limited/a", "", 429, true, expose, []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}},
		{"401 unauthorized", "GET", "/private/a", "", 401, true, expose, []string{"WWW-Authenticate"}},
		{"502 upstream refused", "GET", "/broken/a", "", 502, true, expose, nil},
		{"404 before any route", "GET", "/nowhere", "", 404, false, "", nil},
		{"405 before any route", "DELETE", "/open/a", "", 405, false, "", []string{"Allow"}},
	}
	for _, tt := range tests {
		for _, origin := range []string{allowed, "https://evil.example", ""} {
			t.Run(tt.name+"/"+origin, func(t *testing.T) {
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
				}
				r := httptest.NewRequest(tt.method, tt.target, body)
				if origin != "" {
					r.Header.Set("Origin", origin)
				}
				rec := serve(s, r)
				h := rec.Result().Header
				if rec.Code != tt.status {
					t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
				}
				wantOrigin, wantExpose := "", ""
				if tt.cors && origin == allowed {
					wantOrigin, wantExpose = allowed, tt.expose
				}
				if got := h.Values("Access-Control-Allow-Origin"); strings.Join(got, "|") != wantOrigin {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, wantOrigin)
				}
				if got := h.Get("Access-Control-Expose-Headers"); got != wantExpose {
					t.Errorf("Access-Control-Expose-Headers = %q, want %q", got, wantExpose)
				}
				if wantOrigin != "" && h.Get("Vary") != "Origin" {
					t.Errorf("Vary = %q, want Origin", h.Values("Vary"))
				}
				for _, k := range tt.also {
					if h.Get(k) == "" {
						t.Errorf("%s missing: %v", k, h)
					}
				}
			})
		}
	}
}

// hijackable is a ResponseWriter whose connection can be hijacked, with
// buffered bytes the server read past the request.
type hijackable struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	buffered string
}

func (h *hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	br := bufio.NewReader(io.MultiReader(strings.NewReader(h.buffered), h.conn))
	if h.buffered != "" {
		br.Peek(len(h.buffered))
	}
	return h.conn, bufio.NewReadWriter(br, bufio.NewWriter(h.conn)), nil
}

// TestResponseWriterCounts: the server's recorder counts the request body
// whoever reads it, the response body, and the bytes of a hijacked
// connection: what the client had sent past the handshake (buffered),
// then what is read and written through the connection. The handshake
// answer, written through the returned bufio.Writer, is not counted.
func TestResponseWriterCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		// hijack: the connection is hijacked, with buffered bytes already
		// read by the server, then read (from the peer) and written.
		hijack          bool
		buffered        string
		response        string
		read, written   string
		wantIn, wantOut int64
	}{
		{name: "body both ways", body: "0123456789", response: "hello", wantIn: 10, wantOut: 5},
		{name: "no body", response: "", wantIn: 0, wantOut: 0},
		{name: "hijacked", hijack: true, read: "abcd", written: "xyzxyz", wantIn: 4, wantOut: 6},
		{name: "hijacked with buffered bytes", hijack: true, buffered: "123", read: "abcd", written: "xy", wantIn: 7, wantOut: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()
			hw := &hijackable{ResponseRecorder: httptest.NewRecorder(), conn: server, buffered: tt.buffered}
			w := &responseWriter{ResponseWriter: hw}
			if tt.body != "" {
				w.body = &countBody{ReadCloser: io.NopCloser(strings.NewReader(tt.body))}
				if _, err := io.Copy(io.Discard, w.body); err != nil {
					t.Fatal(err)
				}
			}
			if tt.response != "" {
				io.WriteString(w, tt.response)
			}
			if tt.hijack {
				c, brw, err := w.Hijack()
				if err != nil {
					t.Fatal(err)
				}
				if w.status != http.StatusSwitchingProtocols {
					t.Errorf("status = %d, want 101", w.status)
				}
				go func() {
					// The handshake answer, then what the peer sends.
					io.Copy(io.Discard, client)
				}()
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
				brw.Flush()
				if _, err := io.CopyN(io.Discard, brw.Reader, int64(len(tt.buffered))); err != nil {
					t.Fatal(err)
				}
				go client.Write([]byte(tt.read))
				if _, err := io.ReadFull(c, make([]byte, len(tt.read))); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write([]byte(tt.written)); err != nil {
					t.Fatal(err)
				}
			}
			if in, out := w.bytesIn(), w.bytesOut(); in != tt.wantIn || out != tt.wantOut {
				t.Errorf("bytes in/out = %d/%d, want %d/%d", in, out, tt.wantIn, tt.wantOut)
			}
		})
	}
}

// TestServeHTTPBytesInAccessLog: the access log's bytes_in and bytes_out
// are the request and response bodies as the server counted them.
func TestServeHTTPBytesInAccessLog(t *testing.T) {
	t.Parallel()
	e := testkit.NewEcho(t, "app")
	var log bytes.Buffer
	access := telemetry.NewAccessLog(&log)
	s, err := New(Options{Config: parseConfig(t, gatewayConfig(e.URL, catchAll)), AccessLog: access})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/things", strings.NewReader(strings.Repeat("q", 1000))))
	s.Shutdown(context.Background())
	access.Close()
	line := log.String()
	want := fmt.Sprintf(`"bytes_in":1000,"bytes_out":%d`, rec.Body.Len())
	if rec.Code != 200 || rec.Body.Len() == 0 || !strings.Contains(line, want) {
		t.Fatalf("status %d, %d bytes; access log %s, want %s", rec.Code, rec.Body.Len(), line, want)
	}
}
