package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// sideUpstream answers with its name, for counting which side served.
func sideUpstream(t *testing.T, name string) (url string, hits *atomic.Int64) {
	hits = new(atomic.Int64)
	srv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Side", name)
		io.WriteString(w, name)
	}))
	return srv.URL, hits
}

func splitConfig(t *testing.T, v1, v2 string) string {
	return base(fmt.Sprintf(`upstreams:
  orders-v1: {targets: [{url: %q}]}
  orders-v2: {targets: [{url: %q}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    split:
      - {upstream: orders-v2, weight: 10}
      - {upstream: orders-v1, weight: 90}
      - {upstream: orders-v2, match: {headers: {X-Canary: "1"}}}
      - {upstream: orders-v1, match: {cookies: {beta: "no"}}}
  - name: sticky
    match: {path_prefix: /sticky}
    split:
      - {upstream: orders-v1, weight: 50}
      - {upstream: orders-v2, weight: 50}
    sticky: {cookie: gantry-split, ttl: 2h}
`, v1, v2))
}

// hammer sends n GET requests to url from workers goroutines over
// keep-alive connections and returns how many each X-Side answered and
// every request's latency.
func hammer(t *testing.T, url string, n, workers int, headers ...string) (map[string]int, []time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}}
	defer c.CloseIdleConnections()
	var mu sync.Mutex
	sides := map[string]int{}
	lat := make([]time.Duration, 0, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				for _, h := range headers {
					k, v, _ := strings.Cut(h, ":")
					req.Header.Set(k, strings.TrimSpace(v))
				}
				start := time.Now()
				res, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				d := time.Since(start)
				if res.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("GET %s = %d", url, res.StatusCode)
					return
				}
				mu.Lock()
				sides[res.Header.Get("X-Side")]++
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return sides, lat
}

func TestSplitWeightsAndMatches(t *testing.T) {
	v1, hits1 := sideUpstream(t, "v1")
	v2, hits2 := sideUpstream(t, "v2")
	g := testkit.Start(t, splitConfig(t, v1, v2))

	const n = 10_000
	sides, _ := hammer(t, g.URL+"/orders/1", n, 8)
	// Binomial(10,000, 0.1) has a standard deviation of 0.3%: 1% is 3.3
	// of them (about one run in 1,100 lands outside by chance).
	share := float64(sides["v2"]) / n
	if sides["v1"]+sides["v2"] != n || math.Abs(share-0.10) > 0.01 {
		t.Fatalf("sides = %v: v2 share %.4f, want 0.10 ± 0.01", sides, share)
	}
	if hits1.Load() != int64(sides["v1"]) || hits2.Load() != int64(sides["v2"]) {
		t.Fatalf("upstreams saw v1 %d, v2 %d; clients got %v", hits1.Load(), hits2.Load(), sides)
	}

	canary, _ := hammer(t, g.URL+"/orders/1", 300, 4, "X-Canary: 1")
	if canary["v2"] != 300 {
		t.Fatalf("with X-Canary: 1, sides = %v, want all 300 on v2", canary)
	}
	other, _ := hammer(t, g.URL+"/orders/1", 100, 2, "X-Canary: 1", "Cookie: beta=no")
	if other["v2"] != 100 {
		t.Fatalf("the first match wins: sides = %v, want all on v2", other)
	}
	beta, _ := hammer(t, g.URL+"/orders/1", 200, 2, "Cookie: theme=dark; beta=no")
	if beta["v1"] != 200 {
		t.Fatalf("with cookie beta=no, sides = %v, want all 200 on v1", beta)
	}

	ss, _ := metricsOf(t, g)
	got1, _ := value(ss, "gantry_split_requests_total", "route", "orders", "upstream", "orders-v1")
	got2, _ := value(ss, "gantry_split_requests_total", "route", "orders", "upstream", "orders-v2")
	if int(got1) != sides["v1"]+200 || int(got2) != sides["v2"]+400 {
		t.Fatalf("gantry_split_requests_total = v1 %v, v2 %v; want %d, %d", got1, got2, sides["v1"]+200, sides["v2"]+400)
	}
	get(t, g.URL+"/orders/logged", "X-Canary: 1", "X-Request-ID: split-log-1")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(g.Stdout(), "split-log-1") {
		time.Sleep(50 * time.Millisecond)
	}
	logged := false
	for line := range strings.Lines(g.Stdout()) {
		if strings.Contains(line, "split-log-1") {
			logged = true
			if !strings.Contains(line, `"upstream":"orders-v2"`) {
				t.Fatalf("access log line does not name the side:\n%s", line)
			}
		}
	}
	if !logged {
		t.Fatal("no access log line for split-log-1")
	}
	status, body := g.Admin("GET", "/admin/routes", "")
	var routes struct {
		Routes []struct {
			Name     string   `json:"name"`
			Upstream string   `json:"upstream"`
			Split    []string `json:"split"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &routes); status != 200 || err != nil || len(routes.Routes) == 0 ||
		!slices.Equal(routes.Routes[0].Split, []string{"orders-v2", "orders-v1"}) || routes.Routes[0].Upstream != "" {
		t.Fatalf("/admin/routes = %d %s, want the split's upstreams", status, body)
	}
}

func TestSplitSticky(t *testing.T) {
	v1, _ := sideUpstream(t, "v1")
	var mu sync.Mutex
	var cookies []string
	v2srv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cookies = append(cookies, r.Header.Get("Cookie"))
		mu.Unlock()
		w.Header().Set("X-Side", "v2")
		io.WriteString(w, "v2")
	}))
	g := testkit.Start(t, splitConfig(t, v1, v2srv.URL))

	first := get(t, g.URL+"/sticky/a")
	sc := first.Header.Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("Set-Cookie = %q, want one", sc)
	}
	for _, attr := range []string{"gantry-split=", "Path=/", "Max-Age=7200", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(sc[0], attr) {
			t.Fatalf("Set-Cookie %q lacks %s", sc[0], attr)
		}
	}
	if strings.Contains(sc[0], "orders-v") {
		t.Fatalf("Set-Cookie %q names the upstream in clear", sc[0])
	}

	// Clients with a jar each: every one stays on the side it got first.
	clients := 20
	bySide := map[string]int{}
	for i := range clients {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		var sides []string
		for j := range 25 {
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/sticky/"+fmt.Sprint(j), nil)
			// The client's own cookie reaches the upstream; the gateway's
			// does not.
			req.Header.Set("Cookie", "theme=dark")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if j > 0 && len(res.Header.Values("Set-Cookie")) != 0 {
				t.Fatalf("client %d request %d got a new cookie %q", i, j, res.Header.Values("Set-Cookie"))
			}
			sides = append(sides, res.Header.Get("X-Side"))
		}
		if len(slices.Compact(slices.Clone(sides))) != 1 {
			t.Fatalf("client %d switched sides: %v", i, sides)
		}
		bySide[sides[0]]++
		c.CloseIdleConnections()
	}
	if bySide["v1"] == 0 || bySide["v2"] == 0 {
		// 20 fair coins all alike: one run in 500,000.
		t.Fatalf("20 sticky clients all landed on one side: %v", bySide)
	}
	// The upstream never sees the gateway's cookie, only the client's own.
	mu.Lock()
	own := 0
	for _, c := range cookies {
		if c != "theme=dark" && c != "" {
			mu.Unlock()
			t.Fatalf("upstream saw Cookie %q, want the client's own cookie only", c)
		}
		if c == "theme=dark" {
			own++
		}
	}
	mu.Unlock()
	if own == 0 {
		t.Fatal("the client's own cookie never reached the upstream")
	}

	// A cookie naming no listed side is ignored and replaced.
	forged := get(t, g.URL+"/sticky/x", "Cookie: gantry-split=orders-v1")
	if len(forged.Header.Values("Set-Cookie")) != 1 {
		t.Fatalf("a forged cookie was accepted: Set-Cookie %q", forged.Header.Values("Set-Cookie"))
	}
}

func TestMirrorSample(t *testing.T) {
	primary := testkit.NewEcho(t, "primary")
	var shadowHits atomic.Int64
	var shadowBad atomic.Value
	shadow := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Api-Key") != "" || !strings.Contains(string(body), `"channel":"api"`) || r.Header.Get("X-Consumer-Id") != "acme" || r.Header.Get("X-Request-Id") == "" {
			shadowBad.Store(fmt.Sprintf("header %v body %s", r.Header, body))
		}
		shadowHits.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	g := testkit.Start(t, base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
usage: {flush_interval: 100ms}
auth:
  api_key: {header: X-API-Key}
consumers:
  - id: acme
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  orders: {targets: [{url: %q}]}
  shadow: {targets: [{url: %q}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: orders
    auth: [api_key]
    mirror: {upstream: shadow, sample: 0.05, queue: 1000, timeout: 5s}
    transform:
      request_body: {set: {"meta.channel": "api"}}
`, filepath.Join(t.TempDir(), "gantry.db"), primary.URL, shadow.URL)))

	const n = 4000
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= n {
				r := do(t, http.MethodPost, g.URL+"/orders", `{"id":1}`, "X-API-Key: acme-key-0123456789", "Content-Type: application/json")
				if r.Status != http.StatusOK {
					t.Errorf("POST = %d %s", r.Status, r.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	if primary.Count() != n {
		t.Fatalf("primary got %d requests, want %d", primary.Count(), n)
	}
	// The copies are sent after the answers: wait until the mirror has
	// counted every copy it sent.
	var sent float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, _ := metricsOf(t, g)
		sent, _ = value(ss, "gantry_mirror_requests_total", "route", "orders", "result", "sent")
		if int64(sent) == shadowHits.Load() && sent > 0 || time.Now().After(deadline) {
			for _, r := range []string{"dropped", "failed", "skipped"} {
				if v, _ := value(ss, "gantry_mirror_requests_total", "route", "orders", "result", r); v != 0 {
					t.Errorf("gantry_mirror_requests_total{result=%q} = %v, want 0", r, v)
				}
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Binomial(4,000, 0.05): mean 200, standard deviation 13.8; 130 to 270
	// is five of them either way.
	if hits := shadowHits.Load(); hits < 130 || hits > 270 || int64(sent) != hits {
		t.Fatalf("shadow got %d copies (metric sent %v), want about 200 of %d", hits, sent, n)
	}
	if bad := shadowBad.Load(); bad != nil {
		t.Fatalf("a copy differed from the primary's request: %v", bad)
	}
	// Mirrored requests are not metered or billed: usage counts the
	// client's n, and stays there.
	ss, _ := metricsOf(t, g)
	if v, _ := value(ss, "gantry_requests_total", "route", "orders", "method", "POST", "status", "200"); int(v) != n {
		t.Fatalf("gantry_requests_total = %v, want %d", v, n)
	}
	waitUsage(t, g, "acme", n)
	time.Sleep(300 * time.Millisecond) // three more flushes
	if sum := waitUsage(t, g, "acme", n); sum.Requests != n || sum.Billable != n {
		t.Fatalf("usage = %+v, want %d requests, all billable, none for the copies", sum, n)
	}
}

func p99(lat []time.Duration) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)*99/100]
}

func TestMirrorHangingNeverDelaysClients(t *testing.T) {
	primaryURL, _ := sideUpstream(t, "primary")
	var hung atomic.Int64
	shadow := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		<-r.Context().Done()
	}))
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  orders: {targets: [{url: %q}]}
  shadow: {targets: [{url: %q}]}
routes:
  - name: plain
    match: {path_prefix: /plain}
    upstream: orders
  - name: mirrored
    match: {path_prefix: /mirrored}
    upstream: orders
    mirror: {upstream: shadow, sample: 1, queue: 20, workers: 2, timeout: 8s}
`, primaryURL, shadow.URL)))

	const n = 600
	_, plain := hammer(t, g.URL+"/plain/x", n, 4)
	_, mirrored := hammer(t, g.URL+"/mirrored/x", n, 4)
	// No client request waited for the mirror: every one is far below its
	// 8 s timeout (a copy hangs until then), and the p99 stays within a
	// generous multiple of the same run without a mirror.
	if worst := slices.Max(mirrored); worst >= 4*time.Second {
		t.Fatalf("slowest mirrored request took %v: it waited for the mirror", worst)
	}
	if a, b := p99(mirrored), p99(plain); a > 4*b+time.Second {
		t.Fatalf("p99 with a hanging mirror %v, without %v", a, b)
	}
	ss, _ := metricsOf(t, g)
	dropped, _ := value(ss, "gantry_mirror_requests_total", "route", "mirrored", "result", "dropped")
	if dropped < n-100 {
		t.Fatalf("gantry_mirror_requests_total{result=dropped} = %v, want most of %d (queue 20, 2 workers hanging)", dropped, n)
	}
	// The hanging copies end by the mirror's timeout, counted as failed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ss, _ = metricsOf(t, g)
		if failed, _ := value(ss, "gantry_mirror_requests_total", "route", "mirrored", "result", "failed"); failed >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mirror copy failed by its timeout; shadow saw %d", hung.Load())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jsonUpstream answers with the request body for POST, and fixed JSON
// bodies by path otherwise.
func jsonUpstream(t *testing.T, seen *atomic.Value) string {
	return testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen.Store(string(body))
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
			w.Write(body)
		case "/gzip":
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write([]byte(`{"internal_id":1}`))
			zw.Close()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(b.Bytes())
		case "/stream":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"internal_id":`))
			w.(http.Flusher).Flush()
			w.Write([]byte(`1}`))
		case "/big":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"internal_id":1,"pad":%q}`, strings.Repeat("x", 2000))
		}
	})).URL
}

func TestTransformBodies(t *testing.T) {
	var seen atomic.Value
	up := jsonUpstream(t, &seen)
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
    transform:
      max_body_bytes: 1KiB
      request_body:  {set: {"meta.channel": "api", "items[].checked": true}, remove: ["debug", "items[].debug"], rename: {"usr": "user"}}
      response_body: {set: {"meta.served": 1}, remove: ["internal_id", "items[].cost"], rename: {"cust": "customer", "items[].sku": "code", "meta.v": "version"}}
`, up)))

	in := `{"usr":"ann","debug":1,"items":[{"sku":"a","cost":3,"debug":true},{"sku":"b","cost":4}],"internal_id":7,"cust":"acme","meta":{"v":2}}`
	r := do(t, http.MethodPost, g.URL+"/echo", in, "Content-Type: application/json; charset=utf-8")
	wantUp := `{"cust":"acme","internal_id":7,"items":[{"checked":true,"cost":3,"sku":"a"},{"checked":true,"cost":4,"sku":"b"}],"meta":{"channel":"api","v":2},"user":"ann"}`
	if got := seen.Load(); got != wantUp {
		t.Fatalf("upstream got %s\nwant %s", got, wantUp)
	}
	wantClient := `{"customer":"acme","items":[{"checked":true,"code":"a"},{"checked":true,"code":"b"}],"meta":{"channel":"api","served":1,"version":2},"user":"ann"}`
	if string(r.Body) != wantClient {
		t.Fatalf("client got %s\nwant %s", r.Body, wantClient)
	}
	if cl := r.Header.Get("Content-Length"); cl != fmt.Sprint(len(wantClient)) {
		t.Fatalf("Content-Length = %q, want %d", cl, len(wantClient))
	}

	// +json types are JSON too.
	r = do(t, http.MethodPost, g.URL+"/echo", `{"debug":1,"internal_id":2}`, "Content-Type: application/problem+json")
	if got := seen.Load(); got != `{"internal_id":2,"meta":{"channel":"api"}}` || string(r.Body) != `{"meta":{"channel":"api","served":1}}` {
		t.Fatalf("+json: upstream got %s, client got %s", got, r.Body)
	}

	// Not JSON: untouched both ways.
	text := `{"debug":1,"internal_id":2}`
	r = do(t, http.MethodPost, g.URL+"/echo", text, "Content-Type: text/plain")
	if seen.Load() != text || string(r.Body) != text {
		t.Fatalf("text/plain: upstream got %s, client got %s", seen.Load(), r.Body)
	}

	// Over max_body_bytes: passes unchanged both ways, counted.
	big := fmt.Sprintf(`{"debug":1,"pad":%q}`, strings.Repeat("y", 2000))
	r = do(t, http.MethodPost, g.URL+"/echo", big, "Content-Type: application/json")
	if seen.Load() != big || string(r.Body) != big {
		t.Fatalf("over the limit: the body changed")
	}
	r = get(t, g.URL+"/big")
	if !strings.HasPrefix(string(r.Body), `{"internal_id":1,"pad":`) {
		t.Fatalf("over the limit: answer changed to %.60s", r.Body)
	}

	// Compressed and streamed answers pass unchanged.
	r = get(t, g.URL+"/gzip")
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("gzip answer: %v", err)
	}
	if plain, _ := io.ReadAll(zr); string(plain) != `{"internal_id":1}` {
		t.Fatalf("gzip answer = %s", plain)
	}
	r = get(t, g.URL+"/stream")
	if string(r.Body) != `{"internal_id":1}` {
		t.Fatalf("streamed answer = %s, want it unchanged", r.Body)
	}

	// Not valid JSON: unchanged, counted.
	r = do(t, http.MethodPost, g.URL+"/echo", `{"debug":`, "Content-Type: application/json")
	if seen.Load() != `{"debug":` || string(r.Body) != `{"debug":` {
		t.Fatalf("invalid JSON: upstream got %s, client got %s", seen.Load(), r.Body)
	}

	ss, _ := metricsOf(t, g)
	for _, c := range []struct {
		dir, result string
		want        float64
	}{
		{"request", "transformed", 2}, {"response", "transformed", 2},
		{"request", "too_large", 1}, {"response", "too_large", 2},
		{"response", "encoded", 1}, {"response", "streamed", 1},
		{"request", "invalid", 1}, {"response", "invalid", 1},
	} {
		if v, _ := value(ss, "gantry_transform_bodies_total", "route", "app", "direction", c.dir, "result", c.result); v != c.want {
			t.Errorf("gantry_transform_bodies_total{direction=%q,result=%q} = %v, want %v", c.dir, c.result, v, c.want)
		}
	}
}

// TestTransformUnderCache: the cache keeps the answer as transformed, and
// its hits are served as stored, without another transform.
func TestTransformUnderCache(t *testing.T) {
	var calls atomic.Int64
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, `{"id":1,"internal_id":7}`)
	}))
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
    cache: {ttl: 30s}
    transform:
      response_body: {remove: [internal_id]}
`, up.URL)))
	for i := range 10 {
		r := get(t, g.URL+"/items/1")
		if r.Status != http.StatusOK || string(r.Body) != `{"id":1}` {
			t.Fatalf("GET %d = %d %s, want the transformed answer", i, r.Status, r.Body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("upstream called %d times, want 1", n)
	}
	ss, _ := metricsOf(t, g)
	if v, _ := value(ss, "gantry_transform_bodies_total", "route", "app", "direction", "response", "result", "transformed"); v != 1 {
		t.Fatalf("gantry_transform_bodies_total{result=transformed} = %v, want 1 (the miss)", v)
	}
}

// TestSplitSidesKeepTheirUpstreams: each side is its upstream as
// configured: its retries go to its other target, its passive health
// ejects a dead one, and a side whose health check fails takes no
// weighted requests.
func TestSplitSidesKeepTheirUpstreams(t *testing.T) {
	v1, _ := sideUpstream(t, "v1")
	var v2healthy atomic.Bool
	v2healthy.Store(true)
	v2 := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !v2healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		w.Header().Set("X-Side", "v2")
		io.WriteString(w, "v2")
	}))
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  orders-v1:
    targets: [{url: "http://%s"}, {url: %q}]
    retries: 1
    passive: {failures: 1, eject_for: 1m}
  orders-v2:
    targets: [{url: %q}]
    health_check: {path: /healthz, interval: 100ms, timeout: 100ms, unhealthy_after: 1, healthy_after: 1}
routes:
  - name: orders
    match: {path_prefix: /orders}
    split:
      - {upstream: orders-v1, weight: 50}
      - {upstream: orders-v2, weight: 50}
      - {upstream: orders-v1, match: {headers: {X-Want: v1}}}
`, closedAddr(t), v1, v2.URL)))

	// One at a time first: a retry each until the dead target is ejected,
	// well within the retry budget.
	for range 4 {
		if r := get(t, g.URL+"/orders/1", "X-Want: v1"); r.Status != http.StatusOK || string(r.Body) != "v1" {
			t.Fatalf("GET with X-Want: v1 = %d %s", r.Status, r.Body)
		}
	}

	// v1's dead target costs a retry on its good one, never an error, and
	// v1's passive health ejects it.
	sides, _ := hammer(t, g.URL+"/orders/1", 400, 4)
	if sides["v1"] == 0 || sides["v2"] == 0 || sides["v1"]+sides["v2"] != 400 {
		t.Fatalf("sides = %v, want both, every request answered", sides)
	}

	v2healthy.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, _ := metricsOf(t, g)
		if v, ok := value(ss, "gantry_upstream_healthy", "upstream", "orders-v2", "target", v2.URL); ok && v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("orders-v2 was not marked unhealthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sides, _ = hammer(t, g.URL+"/orders/1", 200, 4)
	if sides["v1"] != 200 {
		t.Fatalf("with orders-v2 down, sides = %v, want all 200 on v1", sides)
	}
}
