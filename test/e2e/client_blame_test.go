package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// bodyRecorder is an upstream that tells complete requests (whose body it
// read to the end) from incomplete ones (whose body read failed).
type bodyRecorder struct {
	*testing.T
	URL string

	mu                   sync.Mutex
	complete, incomplete []string
}

func newBodyRecorder(t *testing.T) *bodyRecorder {
	t.Helper()
	br := &bodyRecorder{T: t}
	br.URL = testkit.Upstream(t, br).URL
	return br
}

func (br *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	br.mu.Lock()
	if err != nil {
		br.incomplete = append(br.incomplete, r.URL.Path)
	} else {
		br.complete = append(br.complete, r.URL.Path+" "+string(b))
	}
	br.mu.Unlock()
	if err != nil {
		return
	}
	fmt.Fprintf(w, "got %d bytes\n", len(b))
}

// completed returns the complete requests seen so far (path, space, body).
func (br *bodyRecorder) completed() []string {
	br.mu.Lock()
	defer br.mu.Unlock()
	return append([]string(nil), br.complete...)
}

func (br *bodyRecorder) reset() {
	br.mu.Lock()
	br.complete, br.incomplete = nil, nil
	br.mu.Unlock()
}

// blameGateway proxies everything to rec with passive ejection after 3
// failures, /put with two retries (PUT bodies are buffered for replay),
// and /fn to a Lambda function whose invoke endpoint is rec (it reads the
// body whole before invoking).
func blameGateway(t *testing.T, rec *bodyRecorder, server string) *testkit.Gantry {
	t.Helper()
	return testkit.Start(t, baseWith(server, fmt.Sprintf(`upstreams:
  svc:
    targets: [{url: %q}]
    passive: {failures: 3, eject_for: 30s}
  retrying:
    targets: [{url: %q}]
    retries: 2
    passive: {failures: 3, eject_for: 30s}
  fn: {lambda: {function: blame-api, region: us-east-1, endpoint: %q}}
routes:
  - name: put
    match: {path_prefix: /put}
    upstream: retrying
  - name: fn
    match: {path_prefix: /fn}
    upstream: fn
  - name: svc
    match: {path_prefix: /}
    upstream: svc
`, rec.URL, rec.URL, rec.URL)), noAWSCredentials...)
}

func chunkedPost(path, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
}

// malformedBodies are request bodies whose framing is broken, as raw
// requests on one connection, each with the client still reading.
var malformedBodies = []struct {
	name, payload string
}{
	{"bare LF after chunk size", chunkedPost("/a", "3\nabc\r\n0\r\n\r\n")},
	{"chunk size overflow", chunkedPost("/a", "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n")},
	{"negative chunk size", chunkedPost("/a", "-3\r\nabc\r\n0\r\n\r\n")},
	{"17-digit chunk size", chunkedPost("/a", "00000000000000003\r\nabc\r\n0\r\n\r\n")},
	{"chunk extension ended by LF", chunkedPost("/a", "3;ext=1\nabc\r\n0\r\n\r\n")},
	{"chunk data not followed by CRLF", chunkedPost("/a", "3\r\nabcde\r\n0\r\n\r\n")},
	{"1 MiB chunk extension", chunkedPost("/a", "3;"+strings.Repeat("x", 1<<20)+"\r\nabc\r\n0\r\n\r\n")},
	{"1 MiB of chunk extensions", chunkedPost("/a", strings.Repeat("1;"+strings.Repeat("x", 1000)+"\r\nz\r\n", 1<<10)+"0\r\n\r\n")},
	{"bad chunk after 100 KiB", chunkedPost("/a", "19000\r\n"+strings.Repeat("a", 0x19000)+"\r\nzz\r\n0\r\n\r\n")},
	{"PUT with retries, bare LF", "PUT /put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"},
	{"Lambda route, bare LF", chunkedPost("/fn", "3\nabc\r\n0\r\n\r\n")},
}

// exchange writes payload on a new connection while reading what comes
// back, half-closing after the payload when halfClose is set (the client
// has no more to send but still reads). Write errors are ignored: the
// gateway may close the connection before it read everything. closed
// reports whether the gateway closed the connection.
func exchange(t *testing.T, addr, payload string, halfClose bool) (resps []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		if _, err := io.WriteString(c, payload); err == nil && halfClose {
			c.(*net.TCPConn).CloseWrite()
		}
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return resps, bodies, !isTimeout(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resps, bodies = append(resps, resp), append(bodies, string(b))
	}
}

// checkBadRequest wants exactly one 400 bad_request with Connection: close,
// and the connection closed after it.
func checkBadRequest(t *testing.T, resps []*http.Response, bodies []string, closed bool, code string, status int) {
	t.Helper()
	if len(resps) != 1 || resps[0].StatusCode != status {
		t.Fatalf("got statuses %v (bodies %q), want one %d", statusOf(resps), bodies, status)
	}
	r := response{Status: resps[0].StatusCode, Header: resps[0].Header, Body: []byte(bodies[0])}
	if e := r.gwError(t); e.Error != code {
		t.Fatalf("error = %+v, want %s", e, code)
	}
	if !resps[0].Close {
		t.Errorf("answer has no Connection: close (header %v)", resps[0].Header)
	}
	if !closed {
		t.Error("connection left open after a broken request body")
	}
}

// upstreamFailures returns the lines of /metrics that count failed
// attempts (no answer, or a 5xx) against an upstream target, or call it
// unhealthy.
func upstreamFailures(t *testing.T, g *testkit.Gantry) []string {
	t.Helper()
	status, body := g.Admin("GET", "/metrics", "")
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	var bad []string
	for _, l := range strings.Split(string(body), "\n") {
		switch {
		case strings.HasPrefix(l, "gantry_upstream_requests_total{") && failedAttempt(l):
			bad = append(bad, l)
		case strings.HasPrefix(l, "gantry_upstream_healthy{") && strings.HasSuffix(l, " 0"):
			bad = append(bad, l)
		case strings.HasPrefix(l, "gantry_requests_total{") && strings.Contains(l, `status="50`):
			bad = append(bad, l)
		}
	}
	return bad
}

func allHealthy(t *testing.T, g *testkit.Gantry) {
	t.Helper()
	status, body := g.Admin("GET", "/admin/upstreams", "")
	if status != 200 {
		t.Fatalf("/admin/upstreams = %d %s", status, body)
	}
	var res struct {
		Upstreams []struct {
			Name    string        `json:"name"`
			Targets []adminTarget `json:"targets"`
		} `json:"upstreams"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("/admin/upstreams: %v: %s", err, body)
	}
	for _, u := range res.Upstreams {
		for _, tg := range u.Targets {
			if tg.State != "healthy" {
				t.Errorf("upstream %s target %s is %s after client errors, want healthy", u.Name, tg.URL, tg.State)
			}
		}
	}
}

// TestMalformedBodyIsClientError: a broken request body is the client's
// error (400 and close), never the upstream's (502, passive ejection,
// upstream error metrics).
func TestMalformedBodyIsClientError(t *testing.T) {
	rec := newBodyRecorder(t)
	g := blameGateway(t, rec, "")
	for _, tt := range malformedBodies {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			resps, bodies, closed := exchange(t, g.Addr, tt.payload, false)
			checkBadRequest(t, resps, bodies, closed, "bad_request", 400)
			if got := rec.completed(); len(got) != 0 {
				t.Fatalf("upstream got complete requests %q", got)
			}
		})
	}
	// A body shorter than its Content-Length, the client then half-closing:
	// on the direct path (64 KiB or less) and the streaming path (more).
	short := []struct {
		name, payload string
	}{
		{"short body, direct path", "POST /short HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"},
		{"short body, streamed", "POST /short HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("a", 100000)},
		{"short body, PUT with retries", "PUT /put HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"},
		{"unfinished chunked body", chunkedPost("/short", "3\r\nabc\r\n")},
	}
	for _, tt := range short {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			resps, bodies, closed := exchange(t, g.Addr, tt.payload, true)
			checkBadRequest(t, resps, bodies, closed, "bad_request", 400)
			if got := rec.completed(); len(got) != 0 {
				t.Fatalf("upstream got complete requests %q", got)
			}
		})
	}

	// Ten more broken bodies must not eject the only target (3 failures
	// would).
	for i := range 10 {
		exchange(t, g.Addr, malformedBodies[i%len(malformedBodies)].payload, false)
	}
	rec.reset()
	for _, path := range []string{"/ok", "/put/ok"} {
		r := do(t, http.MethodPut, g.URL+path, "hello")
		if r.Status != 200 || string(r.Body) != "got 5 bytes\n" {
			t.Fatalf("PUT %s after malformed bodies: %d %q", path, r.Status, r.Body)
		}
	}
	if got := rec.completed(); len(got) != 2 {
		t.Fatalf("upstream got %q, want the two good requests", got)
	}
	allHealthy(t, g)
	if bad := upstreamFailures(t, g); len(bad) > 0 {
		t.Fatalf("client errors counted against the upstream:\n%s", strings.Join(bad, "\n"))
	}
	// The access log records them as the client's 400s.
	var lines int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		lines = strings.Count(g.Stdout(), `"status":400`)
		if lines >= len(malformedBodies)+len(short)+10 {
			break
		}
	}
	if want := len(malformedBodies) + len(short) + 10; lines < want {
		t.Errorf("access log has %d lines with status 400, want %d", lines, want)
	}
	if strings.Contains(g.Stdout(), `"status":502`) {
		t.Errorf("access log records a 502:\n%s", g.Stdout())
	}
}

// TestSlowUploaderTimesOut: a request body cut by server.read_timeout,
// the client still connected, gets 408 (or a closed connection), never a
// success, and the upstream never gets a complete request.
func TestSlowUploaderTimesOut(t *testing.T) {
	rec := newBodyRecorder(t)
	g := blameGateway(t, rec, "  limits: {read_timeout: 300ms}")
	tests := []struct {
		name, head, body string
	}{
		{"direct path", "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", "0123456789"},
		{"streamed", "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", strings.Repeat("a", 100000)},
		{"chunked", "POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "a\r\n0123456789\r\n"},
		{"PUT with retries", "PUT /put/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", "0123456789"},
		{"Lambda route", "POST /fn/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", "0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			c, err := net.Dial("tcp", g.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.head+tt.body); err != nil {
				t.Fatal(err)
			}
			// The client stays connected and sends nothing more.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			all, err := io.ReadAll(c)
			if err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("reading the answer: %v (got %q)", err, all)
			}
			if len(all) > 0 {
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(all)), nil)
				if err != nil {
					t.Fatalf("answer %q: %v", all, err)
				}
				b, _ := io.ReadAll(resp.Body)
				checkBadRequest(t, []*http.Response{resp}, []string{string(b)}, true, "request_timeout", 408)
			}
			if got := rec.completed(); len(got) != 0 {
				t.Fatalf("upstream got complete requests %q", got)
			}
		})
	}
	allHealthy(t, g)
	if bad := upstreamFailures(t, g); len(bad) > 0 {
		t.Fatalf("slow clients counted against the upstream:\n%s", strings.Join(bad, "\n"))
	}
}

// TestH2ContentLengthMismatch: an HTTP/2 request declaring content-length
// 10 and sending 3 bytes is refused (400 or a stream reset), never a 502.
func TestH2ContentLengthMismatch(t *testing.T) {
	rec := newBodyRecorder(t)
	g := blameGateway(t, rec, "")
	for i := range 4 {
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		status, reset := h2ShortBody(t, c)
		c.Close()
		if !reset && status != 400 {
			t.Fatalf("request %d: status %d, want 400 or a stream reset", i, status)
		}
	}
	if got := rec.completed(); len(got) != 0 {
		t.Fatalf("upstream got complete requests %q", got)
	}
	allHealthy(t, g)
	if bad := upstreamFailures(t, g); len(bad) > 0 {
		t.Fatalf("client errors counted against the upstream:\n%s", strings.Join(bad, "\n"))
	}
	// The access log records the client's 400s.
	var lines int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if lines = strings.Count(g.Stdout(), `"status":400`); lines >= 4 {
			break
		}
	}
	if lines != 4 {
		t.Errorf("access log has %d lines with status 400, want 4:\n%s", lines, g.Stdout())
	}
}

// h2ShortBody speaks HTTP/2 with prior knowledge on c: a POST declaring
// content-length 10, then 3 bytes of DATA with END_STREAM. It returns the
// answer's status, or reset true when the stream was reset.
func h2ShortBody(t *testing.T, c net.Conn) (status int, reset bool) {
	t.Helper()
	frame := func(typ, flags byte, stream uint32, payload []byte) []byte {
		b := make([]byte, 9, 9+len(payload))
		b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		b[3], b[4] = typ, flags
		binary.BigEndian.PutUint32(b[5:], stream)
		return append(b, payload...)
	}
	lit := func(nameIndex byte, v string) []byte { // literal without indexing, 4-bit name index
		var b []byte
		if nameIndex < 15 {
			b = []byte{nameIndex}
		} else {
			b = []byte{15, nameIndex - 15}
		}
		return append(append(b, byte(len(v))), v...)
	}
	var hb []byte
	hb = append(hb, 0x83, 0x86)               // :method POST, :scheme http
	hb = append(hb, lit(4, "/h2")...)         // :path
	hb = append(hb, lit(1, "example.com")...) // :authority
	hb = append(hb, lit(28, "10")...)         // content-length
	var out []byte
	out = append(out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"...)
	out = append(out, frame(0x4, 0, 0, nil)...)             // SETTINGS
	out = append(out, frame(0x1, 0x4, 1, hb)...)            // HEADERS, END_HEADERS
	out = append(out, frame(0x0, 0x1, 1, []byte("abc"))...) // DATA, END_STREAM
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		var h [9]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("reading frames: %v (no answer on stream 1)", err)
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		typ, stream := h[3], binary.BigEndian.Uint32(h[5:])&0x7fffffff
		switch {
		case typ == 0x3 && stream == 1: // RST_STREAM
			return 0, true
		case typ == 0x7 && binary.BigEndian.Uint32(payload)&0x7fffffff == 0:
			// GOAWAY before stream 1 was taken: refused.
			return 0, true
		case typ == 0x1 && stream == 1: // HEADERS
			return h2Status(t, payload, h[4]), false
		}
	}
}

// h2Status decodes the :status the gateway's HPACK encoder puts first: an
// indexed static entry, or a literal whose (possibly Huffman-coded) value
// is three digits.
func h2Status(t *testing.T, block []byte, flags byte) int {
	t.Helper()
	if flags&0x8 != 0 { // PADDED
		block = block[1 : len(block)-int(block[0])]
	}
	if flags&0x20 != 0 { // PRIORITY
		block = block[5:]
	}
	static := map[byte]int{0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404, 0x8e: 500}
	if s, ok := static[block[0]]; ok {
		return s
	}
	// A literal whose name is one of the static :status entries (8-14),
	// with or without indexing.
	idx := block[0] & 0x0f
	if block[0]&0xc0 == 0x40 {
		idx = block[0] & 0x3f
	} else if block[0]&0xe0 != 0 {
		t.Fatalf("cannot decode :status from %x", block)
	}
	if idx < 8 || idx > 14 || len(block) < 3 {
		t.Fatalf("cannot decode :status from %x", block)
	}
	n, huff := int(block[1]&0x7f), block[1]&0x80 != 0
	v := block[2 : 2+n]
	if !huff {
		var s int
		fmt.Sscan(string(v), &s)
		return s
	}
	// Digits are 5-bit codes 00000-00010 ('0'-'2') or 6-bit codes
	// 011001-011111 ('3'-'9') in the HPACK Huffman table.
	var bits uint64
	for _, b := range v {
		bits = bits<<8 | uint64(b)
	}
	total, s := len(v)*8, 0
	for range 3 {
		if total < 5 {
			t.Fatalf("cannot decode :status from %x", block)
		}
		if c := bits >> (total - 5) & 0x1f; c <= 2 {
			s, total = s*10+int(c), total-5
			continue
		}
		c := bits >> (total - 6) & 0x3f
		s, total = s*10+int(c-0x19+3), total-6
	}
	return s
}

// TestShutdownMidBody: a request whose body is still arriving when the
// shutdown grace ends is never answered with a success: the connection is
// closed (or answered 503), and the upstream gets no complete request.
func TestShutdownMidBody(t *testing.T) {
	rec := newBodyRecorder(t)
	g := blameGateway(t, rec, "  shutdown_grace: 300ms")
	heads := []string{
		"POST /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
		"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
		"POST /fn/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
	}
	answers := make(chan string, len(heads))
	var conns []net.Conn
	for _, h := range heads {
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		if _, err := io.WriteString(c, h); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	g.Signal(syscall.SIGTERM)
	for _, c := range conns {
		go func() {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c)
			answers <- string(b)
		}()
	}
	for range heads {
		a := <-answers
		if a == "" {
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(a)), nil)
		if err != nil {
			t.Fatalf("answer %q: %v", a, err)
		}
		if resp.StatusCode < 400 {
			t.Errorf("request cut by the shutdown answered %d", resp.StatusCode)
		}
	}
	if code := g.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if got := rec.completed(); len(got) != 0 {
		t.Fatalf("upstream got complete requests %q", got)
	}
}

// TestReadTimeoutSpansOnlyTheRequest: server.read_timeout bounds reading
// the request; once it is read, a slower upstream answer still reaches the
// client, on every path.
func TestReadTimeoutSpansOnlyTheRequest(t *testing.T) {
	slow := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(700 * time.Millisecond)
		fmt.Fprintf(w, "slow %d", len(b))
	}))
	g := testkit.Start(t, baseWith("  limits: {read_timeout: 300ms}", fmt.Sprintf(`upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: svc
    match: {path_prefix: /}
    upstream: svc
`, slow.URL)))
	tests := []struct {
		name, method, body string
		chunked            bool
	}{
		{"GET", "GET", "", false},
		{"POST, direct path", "POST", "hello", false},
		{"POST, chunked", "POST", "hello", true},
		{"POST, streamed", "POST", strings.Repeat("a", 100<<10), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd io.Reader
			if tt.body != "" {
				rd = strings.NewReader(tt.body)
				if tt.chunked {
					rd = io.MultiReader(rd) // unknown length: chunked
				}
			}
			req, _ := http.NewRequest(tt.method, g.URL+"/x", rd)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("slow %d", len(tt.body)); resp.StatusCode != 200 || string(b) != want {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, b, want)
			}
		})
	}
}

// TestClientGoneMidBody: a client that resets its connection mid-body is
// recorded as 499, sent nothing, and not held against the upstream.
func TestClientGoneMidBody(t *testing.T) {
	rec := newBodyRecorder(t)
	g := blameGateway(t, rec, "")
	heads := []string{
		"POST /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
		"POST /streamed HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("a", 100000),
		"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
	}
	for _, h := range heads {
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, h); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0) // close with a reset
		c.Close()
	}
	var lines int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if lines = strings.Count(g.Stdout(), `"status":499`); lines >= len(heads) {
			break
		}
	}
	if lines != len(heads) {
		t.Errorf("access log has %d lines with status 499, want %d:\n%s", lines, len(heads), g.Stdout())
	}
	if got := rec.completed(); len(got) != 0 {
		t.Fatalf("upstream got complete requests %q", got)
	}
	allHealthy(t, g)
	if bad := upstreamFailures(t, g); len(bad) > 0 {
		t.Fatalf("clients gone counted against the upstream:\n%s", strings.Join(bad, "\n"))
	}
}

// failedAttempt reports whether a gantry_upstream_requests_total line
// counts attempts that got no answer (status connect_error, timeout or
// error) or a 5xx.
func failedAttempt(l string) bool {
	for _, s := range []string{`status="5`, `status="connect_error"`, `status="timeout"`, `status="error"`, `status="0"`} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
