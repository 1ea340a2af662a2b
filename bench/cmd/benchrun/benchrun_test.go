package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/bench"
)

// lockedBuffer is written by readLineUntil's goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{
			name: "nginx worker",
			in:   "4242 (nginx) S 4241 4241 4241 0 -1 4194624 120 0 0 0 731 245 0 0 20 0 1 0 9151 58712064 1520 18446744073709551615",
			want: procStat{comm: "nginx", ppid: 4241, utime: 731, stime: 245},
		},
		{
			name: "name with spaces and parentheses",
			in:   "77 (my (odd) name) R 1 77 77 0 -1 0 0 0 0 0 12 3 0 0 20 0 4 0 1 1 1",
			want: procStat{comm: "my (odd) name", ppid: 1, utime: 12, stime: 3},
		},
		{name: "short", in: "1 (init) S 0 1", wantErr: true},
		{name: "no name", in: "1 init S 0 1 1 0 -1 0 0 0 0 0 1 1", wantErr: true},
		{name: "not a number", in: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 x 1 0 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStat() error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseStat() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The harness's own process has a readable stat, CPU time and RSS.
func TestReadOwnProc(t *testing.T) {
	pid := os.Getpid()
	st, err := readStat(pid)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid = %d, want %d", st.ppid, os.Getppid())
	}
	rss, err := rssBytes([]int{pid})
	if err != nil || rss < 1<<20 {
		t.Errorf("rssBytes = %d, %v; want at least 1 MiB", rss, err)
	}
	if _, err := cpuTicks([]int{pid}); err != nil {
		t.Errorf("cpuTicks: %v", err)
	}
	if !slices.Contains(children(os.Getppid()), pid) {
		t.Errorf("children(parent) does not list this process")
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{name: "ok", in: "Name:\tnginx\nVmPeak:\t  60000 kB\nVmRSS:\t    7396 kB\nRssAnon:\t 1000 kB\n", want: 7396 << 10},
		{name: "missing", in: "Name:\tkthreadd\nState:\tS\n", wantErr: true},
		{name: "odd unit", in: "VmRSS:\t 12 MB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseVmRSS() = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

const wrkOutput = `Running 8s test @ http://127.0.0.1:40000/items/42
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  301.12us   9.81ms   88.10%
    Req/Sec    42.11k     1.20k   44.01k    71.25%
  335320 requests in 8.00s, 54.36MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  41914.27
Transfer/sec:      6.79MB
{"bench":1,"requests":335320,"duration_us":8000123,"bytes":57000000,"connect":0,"read":2,"write":0,"status":3,"timeout":1,"p50_us":1490,"p99_us":2710,"max_us":9810}
`

func TestParseWrk(t *testing.T) {
	got, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 335320 || got.P50US != 1490 || got.P99US != 2710 {
		t.Errorf("parseWrk() = %+v", got)
	}
	if e := got.errors(); e != 6 {
		t.Errorf("errors() = %d, want 6 (3 status, 2 read, 1 timeout)", e)
	}
	if r := got.rps(); r < 41914 || r > 41915 {
		t.Errorf("rps() = %f, want 41914.x", r)
	}
	if _, err := parseWrk("Running 8s test\nunable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Errorf("parseWrk of a failed run: want an error")
	}
}

func TestWrkArgs(t *testing.T) {
	w := wrkRun{bin: "wrk", script: "/tmp/r.lua", threads: 1, conns: 64, duration: 8 * time.Second, url: "http://127.0.0.1:1/x", headers: []string{"X-API-Key: k"}}
	want := []string{"-t1", "-c64", "-d8s", "--timeout", "5s", "-s", "/tmp/r.lua", "-H", "X-API-Key: k", "http://127.0.0.1:1/x"}
	if got := w.args(); !slices.Equal(got, want) {
		t.Errorf("args() = %q, want %q", got, want)
	}
}

// The Lua script runs under wrk for real where wrk is installed.
func TestWrkScriptAgainstServer(t *testing.T) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed; bench/run installs it")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write(bench.UpstreamBody)
	}))
	defer srv.Close()
	script := filepath.Join(t.TempDir(), "report.lua")
	if err := os.WriteFile(script, []byte(bench.WrkScript), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		header     []string
		wantErrors bool
	}{
		{name: "ok", header: []string{"X-API-Key: k"}},
		{name: "401 counted", wantErrors: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := wrkRun{bin: bin, script: script, threads: 1, conns: 2, duration: time.Second, url: srv.URL + "/x", headers: tt.header}.run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.P50US <= 0 {
				t.Errorf("wrk result = %+v, want requests and a p50", res)
			}
			if got := res.errors() > 0; got != tt.wantErrors {
				t.Errorf("errors() = %d, want errors: %v", res.errors(), tt.wantErrors)
			}
		})
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
BenchmarkMatch/routes=10000/static-2         	  200000	       256.3 ns/op	       0 B/op	       0 allocs/op
BenchmarkMatch/routes=10000/param2-2         	  200000	       387.9 ns/op	      64 B/op	       1 allocs/op
BenchmarkMatch/routes=10000/version-path     	  200000	       190.3 ns/op	       0 B/op	       0 allocs/op
PASS
`
	got := parseGoBench(out)
	want := []goBenchCase{{"static", 256.3, 0}, {"param2", 387.9, 1}, {"version-path", 190.3, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("parseGoBench() = %+v, want %+v", got, want)
	}
	ns, allocs := (&goBench{cases: got}).worst()
	if ns != 387.9 || allocs != 1 {
		t.Errorf("worst() = %v, %v", ns, allocs)
	}
}

func TestRotate(t *testing.T) {
	s := []string{"a", "b", "c"}
	tests := []struct {
		r    int
		want []string
	}{
		{0, []string{"a", "b", "c"}},
		{1, []string{"b", "c", "a"}},
		{2, []string{"c", "a", "b"}},
		{4, []string{"b", "c", "a"}},
	}
	for _, tt := range tests {
		if got := rotate(s, tt.r); !slices.Equal(got, tt.want) {
			t.Errorf("rotate(%d) = %v, want %v", tt.r, got, tt.want)
		}
	}
	if got := rotate([]string(nil), 3); got != nil {
		t.Errorf("rotate(nil) = %v", got)
	}
}

func TestMedianAndFormat(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	tests := []struct {
		in   float64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {42517.4, "42,517"}, {1234567, "1,234,567"}, {-2500, "-2,500"}}
	for _, tt := range tests {
		if got := thousands(tt.in); got != tt.want {
			t.Errorf("thousands(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReplaceBlock(t *testing.T) {
	block := func(s string) string { return markerBegin + "\n" + s + "\n" + markerEnd + "\n" }
	tests := []struct {
		name, doc, want string
	}{
		{name: "new file", doc: "", want: "# Benchmarks\n\n" + block("new")},
		{name: "no markers yet", doc: "# Benchmarks\n\nMethod.", want: "# Benchmarks\n\nMethod.\n\n" + block("new")},
		{name: "replace", doc: "# B\n\nintro\n\n" + block("old") + "\n## Notes\nkept\n", want: "# B\n\nintro\n\n" + block("new") + "\n## Notes\nkept\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replaceBlock(tt.doc, block("new"))
			if got != tt.want {
				t.Errorf("replaceBlock() =\n%q\nwant\n%q", got, tt.want)
			}
			if again := replaceBlock(got, block("new")); again != got {
				t.Errorf("a second replace changed the document")
			}
		})
	}
}

func TestReadLineUntil(t *testing.T) {
	in := strings.NewReader("starting\n{\"msg\":\"gantry started\",\"listen\":\"127.0.0.1:5\"}\nafter 1\nafter 2\n")
	sink := &lockedBuffer{}
	line, before, err := readLineUntil(in, sink, time.Second, func(l string) bool { return strings.Contains(l, "gantry started") })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "127.0.0.1:5") || before != "starting\n" {
		t.Errorf("line, before = %q, %q", line, before)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(sink.String(), "after 2") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sink.String(); got != "after 1\nafter 2\n" {
		t.Errorf("sink = %q, want the lines after the ready line", got)
	}

	_, before, err = readLineUntil(strings.NewReader("config refused\n"), &bytes.Buffer{}, time.Second, func(string) bool { return false })
	if err == nil || before != "config refused\n" {
		t.Errorf("no ready line: err %v, before %q; want an error and the output", err, before)
	}
}

// fakeRun is a saturation run of requests over 8 s.
func fakeRun(requests int64, cpuSeconds float64, p50, p99 int64, errs int64) measure {
	return measure{
		wrk:         wrkResult{Requests: requests, DurationUS: 8e6, P50US: p50, P99US: p99, Status: errs},
		proxyCPU:    cpuSeconds,
		upstreamCPU: float64(requests) * 16e-6,
	}
}

func fixedOf(d time.Duration, n int) fixedMeasure {
	f := fixedMeasure{sent: n, ok: n, rounds: 3, proxyCPU: float64(n) * 30e-6}
	for range n {
		f.latencies = append(f.latencies, d)
	}
	return f
}

func TestReport(t *testing.T) {
	list := scenarios()
	byKey := map[string]*scenario{}
	for _, s := range list {
		byKey[s.key] = s
	}
	// NGINX 40k req/s at 17 µs; plain 24k at 36 µs; auth 30% dearer.
	byKey["direct"].runs = []measure{fakeRun(544000, 0, 800, 2000, 0)}
	byKey["direct"].rss = 17 << 20
	byKey["direct"].fixed = fixedOf(200*time.Microsecond, 1000)
	byKey["nginx"].runs = []measure{fakeRun(320000, 320000*17e-6, 1500, 3000, 0), fakeRun(330000, 330000*17e-6, 1400, 2900, 0)}
	byKey["nginx"].rss = 19 << 20
	byKey["nginx"].fixed = fixedOf(500*time.Microsecond, 1000)
	byKey["haproxy"].runs = []measure{fakeRun(360000, 360000*15e-6, 1300, 2700, 0)}
	byKey["haproxy"].rss = 12 << 20
	byKey["haproxy"].fixed = fixedOf(450*time.Microsecond, 1000)
	byKey["plain"].runs = []measure{fakeRun(192000, 192000*36e-6, 2500, 6000, 0)}
	byKey["plain"].rss, byKey["plain"].rssLoad = 30<<20, 45<<20
	byKey["plain"].fixed = fixedOf(900*time.Microsecond, 1000)
	byKey["auth"].runs = []measure{fakeRun(160000, 160000*36e-6*1.3, 2800, 7000, 2)}
	byKey["auth"].rss = 31 << 20
	byKey["policy"].skip = "config refused: routes[0]: [rate_limit]: not supported yet | really"
	// A cache hit costs a third less CPU than plain's relay.
	byKey["cache"].runs = []measure{fakeRun(240000, 240000*24e-6, 2000, 5000, 0)}
	byKey["aggregate"].skip = "config refused: not supported yet"
	byKey["routes"].skip = "not run"
	// Tracing at 1.0 costs 50% more CPU and exports 4 KiB per 10 requests;
	// 0.01 is refused until tracing lands.
	tr := fakeRun(128000, 128000*54e-6, 3000, 8000, 0)
	tr.exports, tr.exportBytes = 250, 128000*400
	byKey["tracing_1"].runs = []measure{tr}
	byKey["tracing_0.01"].skip = "config refused: telemetry: unknown field tracing"
	// The TLS rows are compared with the NGINX of their own setup.
	byKey["nginx_https_front"].runs = []measure{fakeRun(300000, 300000*20e-6, 1600, 3200, 0)}
	byKey["https_front"].runs = []measure{fakeRun(150000, 150000*40e-6, 2700, 6400, 0)}

	r := &report{
		opts:      options{conns: 64, duration: 8 * time.Second, warmup: 2 * time.Second, rounds: 3, rate: 2000, rateDuration: 10 * time.Second, accessLog: "null", command: "make bench"},
		machine:   machine{cpus: 2, cpuModel: "AMD EPYC", kernel: "6.1", memory: "24 GiB RAM", loadStart: "0.10 0.20 0.30", loadEnd: "1.9 1.0 0.5", nginxVersion: "nginx/1.22.1", haproxyVersion: "HAProxy 2.6.12", wrkVersion: "wrk 4.1.0"},
		scenarios: list,
		goBench:   &goBench{cases: []goBenchCase{{"static", 256, 0}, {"param", 286, 1}}},
		date:      time.Date(2026, 11, 26, 3, 4, 0, 0, time.UTC),
		routesMetrics: &routesMetrics{
			loaded: scrapeResult{ran: true, sizes: []int{10900000, 10900000, 10900000, 10900000, 10900000}, series: 170272,
				times:     []time.Duration{900 * time.Millisecond, 300 * time.Millisecond, 250 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond},
				rssBefore: 128 << 20, rssAfter: 153 << 20},
			idle: scrapeResult{ran: true, sizes: []int{2000, 2000, 2048}, series: 40, times: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond},
				rssBefore: 30 << 20, rssAfter: 39 << 20},
		},
	}
	md := r.markdown()
	for _, want := range []string{
		markerBegin, markerEnd,
		"Command: `make bench`",
		"| NGINX, 2 workers | 40,625 [40,000–41,250] | 1.00× | 1.45 | 2.95 | 17.0 |",
		"| gantry plain (1 route) | 24,000 [24,000–24,000] | 0.59× | 2.50 | 6.00 | 36.0 |",
		"| HAProxy, 2 threads | 45,000 [45,000–45,000] | 1.11× | 1.30 | 2.70 | 15.0 | 16.0 | 0.0 → 12.0 | 0 |",
		"| HAProxy, 2 threads | 0.450 | 0.450 | 0.250 | 0.250 | 30.0 |",
		"; nginx/1.22.1; HAProxy 2.6.12; wrk 4.1.0.",
		"| upstream direct (the limit) | 68,000 [68,000–68,000] | 1.67× | 0.80 | 2.00 | — | 16.0 | 0.0 → 17.0 (upstream) | 0 |",
		"| gantry + API key + rate limit + metering | skipped (config refused: routes[0]: [rate_limit]: not supported yet \\| really) |",
		"| gantry plain (1 route) | 0.900 | 0.900 | 0.700 | 0.700 | 30.0 |",
		"| param | 286.0 | 1 |",
		"| NGINX, HTTPS front (TLS 1.3) | 37,500 [37,500–37,500] | 1.00× |",
		"| gantry, HTTPS front (TLS 1.3) | 18,750 [18,750–18,750] | 0.50× |",
		"| gantry, https upstream (protocol http1) | skipped (not run) |",
		"### Tracing (issue 16)",
		"| off (gantry plain (1 route)) | 24,000 | 1.00× | 36.0 | 1.00× | — | — | — |",
		"| gantry plain, tracing on (ratio 1.0) | 16,000 | 0.67× | 54.0 | 1.50× | 250 | 50,000 | 400.0 |",
		"| gantry plain, tracing on (ratio 0.01) | skipped (config refused: telemetry: unknown field tracing) | | | | | | |",
		"### /metrics with 10,000 routes (issue 16)",
		"| 10,000 routes, after the load | 5 | 10,900,000 | 170,272 | 300.0 | 128.0 | 153.0 |",
		"| 10,000 routes, idle | 3 | 2,048 | 40 | 2.0 | 30.0 | 39.0 |",
		"### Targets (issues 15 and 16)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}

	got := map[string]string{}
	for _, tg := range r.targets() {
		got[tg.name] = tg.verdict() + ": " + tg.measured
	}
	want := map[string]string{
		"plain proxy CPU/req ≤ 1.5× NGINX's (same run)":            "**no**: 2.12× (36.0 vs 17.0 µs)",
		"plain req/s ≥ 0.8× NGINX's (same run)":                    "**no**: 0.59× (24,000 vs 40,625)",
		"API key + rate limit + metering ≤ +10% plain CPU/req":     "not measured: skipped: config refused: routes[0]: [rate_limit]: not supported yet | really; API key alone: +30% (46.8 µs)",
		"aggregate of 3 calls ≤ 2.2× plain CPU/req":                "not measured: skipped: config refused: not supported yet",
		"added p99 at 2,000 req/s ≤ 0.2 ms":                        "**no**: 0.700 ms (NGINX 0.300 ms)",
		"RSS after the saturation run ≤ 32 MiB":                    "yes: 30.0 MiB settled, 45.0 at the end of the load (gantry plain)",
		"RSS with 10,000 routes after the saturation run ≤ 64 MiB": "not measured: not measured",
		"10,000 routes: Match < 300 ns, 0 allocs":                  "**no**: worst case 286 ns, 1 allocs/op",
		"zero errors in every run":                                 "**no**: 2 errors",
		"10,000-route idle gateway RSS < 40 MiB (issue 16)":        "yes: 30.0 MiB 3s after start, 39.0 MiB after 3 scrapes",
		"response cache hit < plain CPU/req":                       "yes: -33% (24.0 vs 36.0 µs)",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("target %q = %q, want %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("targets = %v, want %d of them", got, len(want))
	}
}

// The ratio targets show each round's pair beside the pooled figure: one
// slow round (plain's second here) moves the pooled ratio, and the per-round
// figures and their median show it did. One round is no spread: the
// aggregate's line has none.
func TestRoundRatios(t *testing.T) {
	list := scenarios()
	byKey := map[string]*scenario{}
	for _, s := range list {
		byKey[s.key] = s
	}
	byKey["nginx"].runs = []measure{fakeRun(320000, 320000*20e-6, 1, 2, 0), fakeRun(320000, 320000*20e-6, 1, 2, 0), fakeRun(300000, 300000*25e-6, 1, 2, 0)}
	byKey["plain"].runs = []measure{fakeRun(260000, 260000*28e-6, 1, 2, 0), fakeRun(200000, 200000*40e-6, 1, 2, 0), fakeRun(250000, 250000*30e-6, 1, 2, 0)}
	byKey["policy"].runs = []measure{fakeRun(240000, 240000*30.8e-6, 1, 2, 0), fakeRun(230000, 230000*40e-6, 1, 2, 0)}
	byKey["aggregate"].runs = []measure{fakeRun(120000, 120000*56e-6, 1, 2, 0)}
	r := &report{opts: options{rounds: 3}, scenarios: list}
	got := map[string]string{}
	for _, tg := range r.targets() {
		got[tg.name] = tg.measured
	}
	for name, want := range map[string]string{
		"plain proxy CPU/req ≤ 1.5× NGINX's (same run)":        "1.49× (32.1 vs 21.6 µs); per round 1.40× / 2.00× / 1.20×, median 1.40×",
		"plain req/s ≥ 0.8× NGINX's (same run)":                "0.78× (31,250 vs 40,000); per round 0.81× / 0.62× / 0.83×, median 0.81×",
		"API key + rate limit + metering ≤ +10% plain CPU/req": "+10% (35.3 vs 32.1 µs); per round +10% / +0%, median +5%",
		"aggregate of 3 calls ≤ 2.2× plain CPU/req":            "1.75× (56.0 vs 32.1 µs)",
	} {
		if got[name] != want {
			t.Errorf("target %q = %q, want %q", name, got[name], want)
		}
	}
}

// An added p99 below zero is noise, not a met target: the proxy cannot be
// faster than the call it relays.
func TestAddedP99Unresolved(t *testing.T) {
	list := scenarios()
	byKey := map[string]*scenario{}
	for _, s := range list {
		byKey[s.key] = s
	}
	for _, tt := range []struct {
		plain time.Duration
		want  string
	}{
		{300 * time.Microsecond, "yes: 0.100 ms (NGINX 0.300 ms)"},
		{150 * time.Microsecond, "not measured: -0.050 ms (NGINX 0.300 ms); the direct call's p99 was the higher, so this run cannot resolve it"},
	} {
		for _, k := range []string{"direct", "nginx", "plain"} {
			byKey[k].runs = []measure{fakeRun(1000, 0.01, 1, 2, 0)}
		}
		byKey["direct"].fixed = fixedOf(200*time.Microsecond, 100)
		byKey["nginx"].fixed = fixedOf(500*time.Microsecond, 100)
		byKey["plain"].fixed = fixedOf(tt.plain, 100)
		r := &report{opts: options{rate: 2000}, scenarios: list}
		for _, tg := range r.targets() {
			if strings.HasPrefix(tg.name, "added p99") {
				if got := tg.verdict() + ": " + tg.measured; got != tt.want {
					t.Errorf("plain p99 %v: %q, want %q", tt.plain, got, tt.want)
				}
			}
		}
	}
}

// HAProxy always runs, whatever -only says; a Go peer only when its
// binary is given.
func TestSelectScenarios(t *testing.T) {
	keys := func(o options) string {
		var k []string
		for _, s := range selectScenarios(scenarios(), o) {
			k = append(k, s.key)
		}
		return strings.Join(k, ",")
	}
	tests := []struct {
		name string
		o    options
		want string
	}{
		{name: "only", o: options{only: "auth"}, want: "direct,nginx,haproxy,plain,auth"},
		{name: "peers", o: options{only: "auth", caddy: "bin/caddy", traefik: "bin/traefik"}, want: "direct,nginx,haproxy,caddy,traefik,plain,auth"},
		{name: "caddy only", o: options{only: "x", caddy: "bin/caddy"}, want: "direct,nginx,haproxy,caddy,plain"},
		{name: "quick leaves the opt-in ones out", o: options{quick: true}, want: "direct,nginx,haproxy,goproxy,floor,plain,tracing_1,tracing_0.01,auth,policy,cache,aggregate,routes"},
		{name: "full run has the opt-in ones", o: options{}, want: "direct,nginx,haproxy,goproxy,floor,plain,tracing_1,tracing_0.01,auth,policy,cache,aggregate,routes," +
			"nginx_https_front,https_front,nginx_headers,headers,nginx_https_upstream,https_upstream"},
		{name: "headers by group", o: options{quick: true, only: "headers"}, want: "direct,nginx,haproxy,plain,nginx_headers,headers"},
		{name: "TLS by group", o: options{quick: true, only: "https_front,https_upstream"},
			want: "direct,nginx,haproxy,plain,nginx_https_front,https_front,nginx_https_upstream,https_upstream"},
		{name: "TLS by key", o: options{only: "https_upstream"}, want: "direct,nginx,haproxy,plain,nginx_https_upstream,https_upstream"},
		{name: "tracing by group", o: options{quick: true, only: "tracing,routes"}, want: "direct,nginx,haproxy,plain,tracing_1,tracing_0.01,routes"},
		{name: "one tracing ratio", o: options{only: "tracing_0.01"}, want: "direct,nginx,haproxy,plain,tracing_0.01"},
		{name: "NGINX TLS alone", o: options{only: "nginx_https_front"}, want: "direct,nginx,haproxy,plain,nginx_https_front"},
	}
	for _, tt := range tests {
		if got := keys(tt.o); got != tt.want {
			t.Errorf("%s: scenarios %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestVersions(t *testing.T) {
	if got := haproxyVersion("HAProxy version 2.6.12-1+deb12u4 2025/10/17 - https://haproxy.org/\nStatus: long-term"); got != "HAProxy 2.6.12-1+deb12u4" {
		t.Errorf("haproxyVersion = %q", got)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got := moduleVersion(self, "github.com/gantry-dev/gantry"); got == "" || got == "(unknown version)" {
		t.Errorf("moduleVersion of this test's own module = %q", got)
	}
	if got := moduleVersion(self, "github.com/caddyserver/caddy/v2"); got != "(unknown version)" {
		t.Errorf("moduleVersion of a module not built in = %q", got)
	}
	if got := moduleVersion("/nonexistent", "github.com/caddyserver/caddy/v2"); got != "(unknown version)" {
		t.Errorf("moduleVersion of no binary = %q", got)
	}
	if got := haproxyVersion("haproxy: not found"); got != "HAProxy (unknown version)" {
		t.Errorf("haproxyVersion of an error = %q", got)
	}
}

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("X-API-Key") == "k" {
				w.Header().Set("RateLimit-Limit", "100")
			}
			w.Write(bench.UpstreamBody)
		case "/other":
			w.Write([]byte(`{"id":1}`))
		case "/agg":
			w.Write([]byte(`{"user":{},"orders":[],"prefs":{}}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"status":401,"error":"unauthorized"}`))
		}
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		s       scenario
		wantErr string
	}{
		{name: "upstream body", s: scenario{path: "/ok"}},
		{name: "other body", s: scenario{path: "/other"}, wantErr: "want the upstream's"},
		{name: "status", s: scenario{path: "/nope"}, wantErr: "status 401"},
		{name: "aggregate", s: scenario{path: "/agg", aggregate: []string{"orders", "prefs", "user"}}},
		{name: "aggregate keys", s: scenario{path: "/agg", aggregate: []string{"orders", "user"}}, wantErr: "aggregate keys"},
		{name: "aggregate not json", s: scenario{path: "/ok", aggregate: []string{"user"}}, wantErr: "aggregate keys"},
		{name: "expected header", s: scenario{path: "/ok", header: []string{"X-API-Key: k"}, expectHeader: "RateLimit-Limit"}},
		{name: "missing header", s: scenario{path: "/ok", expectHeader: "RateLimit-Limit"}, wantErr: "no RateLimit-Limit header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.url = srv.URL + tt.s.path
			err := check(t.Context(), &tt.s)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("check() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("check() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// The /metrics rows when the loaded gateway was skipped and the idle one
// is over budget, failed, or was not run.
func TestReportMetrics(t *testing.T) {
	list := scenarios()
	for _, s := range list {
		if s.key == "routes" {
			s.skip = "failed in round 1: EOF"
		}
	}
	tests := []struct {
		name     string
		rm       *routesMetrics
		rows     []string
		idle     string
		noTables bool
	}{
		{
			name: "over budget",
			rm:   &routesMetrics{idle: scrapeResult{ran: true, sizes: []int{10 << 20}, series: 170272, times: []time.Duration{time.Second}, rssBefore: 81 << 20, rssAfter: 153 << 20}},
			rows: []string{"| 10,000 routes, after the load | not run: failed in round 1: EOF | | | | | |", "| 10,000 routes, idle | 1 | 10,485,760 | 170,272 | 1000.0 | 81.0 | 153.0 |"},
			idle: "**no**: 81.0 MiB 3s after start, 153.0 MiB after 1 scrapes",
		},
		{
			name: "idle failed",
			rm:   &routesMetrics{idle: scrapeResult{ran: true, err: "GET /metrics: status 500 | x"}},
			rows: []string{"| 10,000 routes, idle | failed: GET /metrics: status 500 \\| x | | | | | |"},
			idle: "not measured: failed: GET /metrics: status 500 | x",
		},
		{name: "not selected", idle: "not measured: not measured", noTables: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &report{opts: options{rounds: 1, rate: 2000, accessLog: "off"}, scenarios: list, routesMetrics: tt.rm}
			md := r.markdown()
			for _, want := range tt.rows {
				if !strings.Contains(md, want) {
					t.Errorf("report lacks %q:\n%s", want, md)
				}
			}
			if got := strings.Contains(md, "### /metrics with 10,000 routes"); got == tt.noTables {
				t.Errorf("/metrics section present = %v, want %v", got, !tt.noTables)
			}
			for _, tg := range r.targets() {
				if strings.HasPrefix(tg.name, "10,000-route idle gateway") {
					if got := tg.verdict() + ": " + tg.measured; got != tt.idle {
						t.Errorf("idle target = %q, want %q", got, tt.idle)
					}
				}
			}
		})
	}
}

// The sink answers exports as a collector does and counts them.
func TestOTLPSink(t *testing.T) {
	k, err := startSink()
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	if !strings.HasPrefix(k.endpoint(), "http://127.0.0.1:") {
		t.Errorf("endpoint = %q", k.endpoint())
	}
	post := func(path, ctype string, body []byte) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(k.endpoint()+path, ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post("/v1/traces", "application/x-protobuf", make([]byte, 1000))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" || body != "" {
		t.Errorf("protobuf export: %d %q %q, want 200, application/x-protobuf and an empty body", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = post("/v1/traces", "application/json", []byte(`{"resourceSpans":[]}`))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || body != "{}" {
		t.Errorf("JSON export: %d %q %q, want 200, application/json and {}", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ = post("/v1/metrics", "application/x-protobuf", []byte("x")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /v1/metrics: %d, want 404", resp.StatusCode)
	}
	get, err := http.Get(k.endpoint() + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/traces: %d, want 405", get.StatusCode)
	}
	if exports, n := k.counts(); exports != 2 || n != 1000+int64(len(`{"resourceSpans":[]}`)) {
		t.Errorf("counts = %d exports, %d bytes; want 2 and %d", exports, n, 1000+len(`{"resourceSpans":[]}`))
	}
}

func TestScrapeMetrics(t *testing.T) {
	text := "# HELP gantry_requests_total x\n# TYPE gantry_requests_total counter\ngantry_requests_total{route=\"a\"} 1\ngantry_requests_total{route=\"b\"} 2\n\ngantry_build_info{version=\"dev\"} 1\n"
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() || r.URL.Path != "/metrics" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, text)
	}))
	defer srv.Close()
	res, err := scrapeMetrics(t.Context(), srv.URL+"/metrics", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !res.ran || len(res.sizes) != 3 || len(res.times) != 3 || res.lastSize() != len(text) || res.series != 3 {
		t.Errorf("scrapeMetrics = %+v, want 3 scrapes of %d bytes and 3 series", res, len(text))
	}
	if res.medianTime() <= 0 {
		t.Errorf("median scrape time %v", res.medianTime())
	}
	fail.Store(true)
	if _, err := scrapeMetrics(t.Context(), srv.URL+"/metrics", 1); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Errorf("scrapeMetrics of a failing endpoint = %v, want status 500", err)
	}

	// scrapeGateway reads the RSS of the scenario's processes around the
	// scrapes; this test's own process stands in for the gateway.
	fail.Store(false)
	self := []int{os.Getpid()}
	s := &scenario{admin: srv.URL, rssOf: func() []int { return self }}
	g := scrapeGateway(t.Context(), s, 2)
	if g.err != "" || len(g.sizes) != 2 || g.rssBefore == 0 || g.rssAfter == 0 {
		t.Errorf("scrapeGateway = %+v, want 2 scrapes and both RSS readings", g)
	}
	if g := scrapeGateway(t.Context(), &scenario{rssOf: func() []int { return self }}, 1); g.err != "no admin address" {
		t.Errorf("scrapeGateway without an admin address: err %q", g.err)
	}
}

// stopAll stops the processes first, then closes what they talk to.
func TestStopAllAfterStop(t *testing.T) {
	ps := &procs{}
	p, err := ps.start("sleep", exec.Command("sleep", "30"))
	if err != nil {
		t.Skipf("no sleep here: %v", err)
	}
	calls := 0
	ps.afterStop(func() {
		calls++
		if !p.exited() {
			t.Error("afterStop ran before the process stopped")
		}
	})
	ps.stopAll()
	ps.stopAll() // nothing left: no second call
	if calls != 1 {
		t.Errorf("afterStop ran %d times, want 1", calls)
	}
}
