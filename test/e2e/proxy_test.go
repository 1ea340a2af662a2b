package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

func oneRoute(t *testing.T, upstreamURL, extra string) string {
	return baseWith(extra, fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, upstreamURL))
}

func TestForwardedHeaders(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	t.Run("untrusted peer", func(t *testing.T) {
		g := testkit.Start(t, oneRoute(t, e.URL, ""))
		r := get(t, g.URL+"/x?a=1", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "Host: shop.example.com")
		h := http.Header(r.seen(t).Header)
		if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Fatalf("X-Forwarded-For = %q, want 127.0.0.1 (spoofed value dropped)", got)
		}
		if got := h.Get("X-Forwarded-Host"); got != "shop.example.com" {
			t.Fatalf("X-Forwarded-Host = %q", got)
		}
		if got := h.Get("X-Forwarded-Proto"); got != "http" {
			t.Fatalf("X-Forwarded-Proto = %q", got)
		}
		if got, want := r.seen(t).Host, strings.TrimPrefix(e.URL, "http://"); got != want {
			t.Fatalf("upstream Host = %q, want the target's %q", got, want)
		}
		if r.seen(t).Query != "a=1" {
			t.Fatalf("query = %q", r.seen(t).Query)
		}
	})
	t.Run("trusted peer", func(t *testing.T) {
		g := testkit.Start(t, oneRoute(t, e.URL, "  trusted_proxies: [127.0.0.1/32]"))
		r := get(t, g.URL+"/x", "X-Forwarded-For: 203.0.113.9")
		if got := http.Header(r.seen(t).Header).Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
			t.Fatalf("X-Forwarded-For = %q, want %q", got, "203.0.113.9, 127.0.0.1")
		}
	})
}

func TestRequestID(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, ""))
	r := get(t, g.URL+"/a", "X-Request-ID: trace-abc-123")
	if r.Header.Get("X-Request-ID") != "trace-abc-123" || http.Header(r.seen(t).Header).Get("X-Request-ID") != "trace-abc-123" {
		t.Fatalf("client id not kept: response %q, upstream %q", r.Header.Get("X-Request-ID"), http.Header(r.seen(t).Header).Get("X-Request-ID"))
	}
	for _, bad := range []string{strings.Repeat("x", 129), "has space"} {
		r = get(t, g.URL+"/a", "X-Request-ID: "+bad)
		id := r.Header.Get("X-Request-ID")
		if id == "" || id == bad || http.Header(r.seen(t).Header).Get("X-Request-ID") != id {
			t.Fatalf("bad id %q: response id %q, upstream %q", bad, id, http.Header(r.seen(t).Header).Get("X-Request-ID"))
		}
	}
	a, b := get(t, g.URL+"/a").Header.Get("X-Request-ID"), get(t, g.URL+"/a").Header.Get("X-Request-ID")
	if a == "" || a == b {
		t.Fatalf("generated ids %q and %q", a, b)
	}
}

func TestLimits(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, "  limits: {max_body_bytes: 1KiB, max_header_bytes: 16KiB}"))
	r := do(t, "POST", g.URL+"/upload", strings.Repeat("a", 2048))
	if r.Status != 413 || r.gwError(t).Error != "body_too_large" {
		t.Fatalf("big body: %d %s", r.Status, r.Body)
	}
	if e.Count() != 0 {
		t.Fatalf("upstream saw %d requests for a 413", e.Count())
	}
	if r := do(t, "POST", g.URL+"/upload", strings.Repeat("a", 1024)); r.Status != 200 {
		t.Fatalf("body at the limit: %d", r.Status)
	}
	r = get(t, g.URL+"/x", "X-Big: "+strings.Repeat("b", 20<<10))
	if r.Status != 431 {
		t.Fatalf("big header: %d, want 431", r.Status)
	}
}

func TestStreamingLargeResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MiB")
	}
	const size = 100 << 20
	chunk := make([]byte, 64<<10)
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	g := testkit.Start(t, oneRoute(t, up.URL, ""))
	before := rssKiB(t, g.Cmd.Process.Pid)
	resp, err := client.Get(g.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var peak int64
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if n%(16<<20) < int64(m) {
			if r := rssKiB(t, g.Cmd.Process.Pid); r > peak {
				peak = r
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != size {
		t.Fatalf("received %d bytes, want %d", n, size)
	}
	if growth := peak - before; growth > 16<<10 {
		t.Fatalf("gateway RSS grew by %d KiB while streaming 100 MiB (before %d KiB)", growth, before)
	}
}

func rssKiB(t *testing.T, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

func TestServerSentEventsFlush(t *testing.T) {
	release := make(chan struct{})
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer close(release)
	g := testkit.Start(t, oneRoute(t, up.URL, ""))
	resp, err := client.Get(g.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l != "data: first\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first event not delivered while the upstream holds the stream open")
	}
}

func TestCORSPreflight(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: users
    match: {path: "/users/{id}", methods: [GET, PUT]}
    upstream: app
    cors: {origins: ["https://app.example.com"], methods: [GET, PUT], headers: [Authorization, X-API-Key], max_age: 10m}
`, e.URL)))
	r := do(t, "OPTIONS", g.URL+"/users/1", "", "Origin: https://app.example.com", "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: x-api-key")
	if r.Status != 204 {
		t.Fatalf("preflight = %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PUT") || r.Header.Get("Access-Control-Max-Age") != "600" {
		t.Fatalf("preflight headers %v", r.Header)
	}
	if e.Count() != 0 {
		t.Fatal("preflight reached the upstream")
	}
	r = do(t, "OPTIONS", g.URL+"/users/1", "", "Origin: https://evil.example", "Access-Control-Request-Method: PUT")
	if r.Status != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin = %d, ACAO %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	r = get(t, g.URL+"/users/1", "Origin: https://app.example.com")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("actual request: %d ACAO %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestUpstreamDown(t *testing.T) {
	up := testkit.Upstream(t, http.NotFoundHandler())
	url := up.URL
	up.Close()
	g := testkit.Start(t, oneRoute(t, url, ""))
	r := get(t, g.URL+"/x")
	if r.Status != 502 || r.gwError(t).Error != "bad_gateway" {
		t.Fatalf("dead upstream: %d %s", r.Status, r.Body)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  slow: {targets: [{url: %q}], timeouts: {response: 300ms}}
routes:
  - name: slow
    match: {path_prefix: /}
    upstream: slow
`, up.URL)))
	start := time.Now()
	r := get(t, g.URL+"/x")
	if r.Status != 504 || r.gwError(t).Error != "upstream_timeout" {
		t.Fatalf("slow upstream: %d %s", r.Status, r.Body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("504 took %v", d)
	}
}

func TestAccessLog(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, ""))
	get(t, g.URL+"/path/x?api_key=supersecret", "X-Request-ID: log-check-1")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(g.Stdout(), "log-check-1") {
		time.Sleep(50 * time.Millisecond)
	}
	out := g.Stdout()
	if !strings.Contains(out, `"request_id":"log-check-1"`) || !strings.Contains(out, `"route":"app"`) || !strings.Contains(out, `"status":200`) {
		t.Fatalf("access log missing fields:\n%s", out)
	}
	if strings.Contains(out, "supersecret") {
		t.Fatalf("access log leaks the query string:\n%s", out)
	}
}

// TestAccessLogDurationCountsTheHeader: on the gateway's own engine a
// request starts when its first byte is in (docs/metrics.md), so a header
// sent in two halves 300 ms apart is logged with the wait in its
// duration_ms. The engine is named in the config, so the suite's run on
// net/http's server does not change it.
func TestAccessLogDurationCountsTheHeader(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, "  engine: gantry"))
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /slow-head HTTP/1.1\r\nHost: api.example\r\n")
	time.Sleep(300 * time.Millisecond)
	io.WriteString(c, "X-Request-ID: slow-head-1\r\n\r\n")
	resps, _, _ := testkit.ReadResponses(c, "", 3*time.Second, 3*time.Second)
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Fatalf("answers %v", statusOf(resps))
	}
	var line string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for l := range strings.SplitSeq(g.Stdout(), "\n") {
			if strings.Contains(l, `"request_id":"slow-head-1"`) {
				line = l
			}
		}
		if line != "" {
			break
		}
	}
	var entry struct {
		DurationMS float64 `json:"duration_ms"`
	}
	if err := json.Unmarshal([]byte(line), &entry); err != nil {
		t.Fatalf("access log line %q: %v", line, err)
	}
	if entry.DurationMS < 250 {
		t.Fatalf("duration_ms %v: the header's second half came 300 ms after its first", entry.DurationMS)
	}
}

// TestIdleTimeout: server.limits.idle_timeout closes a kept-alive
// connection that carries no next request, never sooner than the timeout
// (the engine re-arms its timer only when the one set falls short, so it
// may close up to an eighth of the timeout later); a busy connection
// stays open meanwhile.
func TestIdleTimeout(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, "  limits: {idle_timeout: 400ms}"))
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// Requests 150 ms apart for longer than the timeout: each one counts.
	for i := range 6 {
		fmt.Fprintf(c, "GET /keep/%d HTTP/1.1\r\nHost: api.example\r\n\r\n", i)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on the kept-alive connection: %v", i, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, res.StatusCode)
		}
		if i < 5 {
			time.Sleep(150 * time.Millisecond)
		}
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := br.ReadByte(); err == nil {
		t.Fatalf("byte %q after the answers", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle connection not closed 3 s after its last answer (idle_timeout 400ms)")
	}
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before idle_timeout 400ms", d)
	}
}
