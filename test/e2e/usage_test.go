package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/storetest"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// meteredUpstream answers by path: /ok 200, /fail 500, /missing 404, and
// /units/... 200 reporting 1500 units.
func meteredUpstream(t *testing.T) string {
	srv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			w.WriteHeader(500)
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(404)
		case strings.HasPrefix(r.URL.Path, "/units"):
			w.Header().Set("X-Usage-Units", "1500")
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	return srv.URL
}

func meteredConfig(storage, upstream string) string {
	return base(storage + fmt.Sprintf(`usage: {flush_interval: 100ms}
plans:
  pro:
    pricing: {currency: USD, monthly_fee: 49.00, included_requests: 5, per_1000_over: 0.50}
  metered:
    pricing: {currency: USD, per_1000_units: 0.02}
consumers:
  - id: acme
    plan: pro
    api_keys: [{key: acme-key-0123456789}]
  - id: llm
    plan: metered
    api_keys: [{key: llm-key-0123456789ab}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: app
    auth: [api_key]
  - name: limited
    match: {path_prefix: /limited}
    upstream: app
    auth: [api_key]
    rate_limit: {requests: 1, per: 1h}
  - name: units
    match: {path_prefix: /units}
    upstream: app
    auth: [api_key]
    units_header: X-Usage-Units
`, upstream))
}

type usageRow struct {
	Consumer string `json:"consumer"`
	Period   string `json:"period"`
	Route    string `json:"route"`
	Requests int64  `json:"requests"`
	Billable int64  `json:"billable"`
	Units    int64  `json:"units"`
	Errors   int64  `json:"errors"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
}

// usageTotal sums the consumer's usage rows of the current month.
func usageTotal(t *testing.T, g *testkit.Gantry, consumer, groupBy string) (usageRow, []usageRow) {
	t.Helper()
	status, body := g.Admin("GET", "/admin/usage?consumer="+consumer+"&group_by="+groupBy, "")
	if status != 200 {
		t.Fatalf("/admin/usage: %d %s", status, body)
	}
	var out struct{ Rows []usageRow }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("/admin/usage body %s: %v", body, err)
	}
	var sum usageRow
	for _, r := range out.Rows {
		if r.Consumer != consumer {
			t.Fatalf("row for %q in a query for %q", r.Consumer, consumer)
		}
		sum.Requests += r.Requests
		sum.Billable += r.Billable
		sum.Units += r.Units
		sum.Errors += r.Errors
		sum.BytesOut += r.BytesOut
	}
	return sum, out.Rows
}

// waitUsage polls until the consumer's request count reaches want (flushes
// run every 100 ms) and returns the totals.
func waitUsage(t *testing.T, g *testkit.Gantry, consumer string, want int64) usageRow {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sum, _ := usageTotal(t, g, consumer, "day")
		if sum.Requests >= want || time.Now().After(deadline) {
			return sum
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUsageAndInvoice: mixed outcomes give exactly the contract's counts,
// and the invoice prices them.
func TestUsageAndInvoice(t *testing.T) {
	storages := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string {
			return fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db"))
		},
		"postgres": func(t *testing.T) string {
			return fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", storetest.PostgresDSN(t))
		},
	}
	for name, storage := range storages {
		t.Run(name, func(t *testing.T) {
			g := testkit.Start(t, meteredConfig(storage(t), meteredUpstream(t)))
			acme := "X-API-Key: acme-key-0123456789"
			want := map[string]int{"/api/ok": 200, "/api/fail": 500, "/api/missing": 404, "/limited/ok": 200}
			for path, n := range map[string]int{"/api/ok": 6, "/api/fail": 2, "/api/missing": 1, "/limited/ok": 1} {
				for range n {
					if s := get(t, g.URL+path, acme).Status; s != want[path] {
						t.Fatalf("%s: %d, want %d", path, s, want[path])
					}
				}
			}
			if s := get(t, g.URL+"/limited/ok", acme).Status; s != 429 {
				t.Fatalf("second /limited: %d, want 429", s)
			}
			if s := get(t, g.URL+"/api/ok", "X-API-Key: wrong-key-0123456789").Status; s != 401 {
				t.Fatalf("bad key: %d, want 401", s)
			}
			// 11 requests reached a route as acme: 10 admitted (one 429),
			// 8 billable (6 + 1 + the 404), errors: 2x500, the 404, the 429.
			sum := waitUsage(t, g, "acme", 11)
			if sum.Requests != 11 || sum.Billable != 8 || sum.Units != 8 || sum.Errors != 4 {
				t.Fatalf("acme usage %+v, want requests 11, billable 8, units 8, errors 4", sum)
			}
			if sum.BytesOut == 0 {
				t.Errorf("bytes_out not metered")
			}
			if byHour, _ := usageTotal(t, g, "acme", "hour"); byHour.Requests != 11 {
				t.Fatalf("grouped by hour: %d requests, want 11", byHour.Requests)
			}
			// A range that ends before today holds none of it.
			yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
			status, body := g.Admin("GET", "/admin/usage?consumer=acme&from=2020-01-01&to="+yesterday, "")
			var before struct{ Rows []usageRow }
			if status != 200 || json.Unmarshal(body, &before) != nil || slices.ContainsFunc(before.Rows, func(r usageRow) bool { return r.Consumer == "acme" }) {
				t.Fatalf("usage before today: %d %s", status, body)
			}
			if status, _ := g.Admin("GET", "/admin/usage?group_by=week", ""); status != 400 {
				t.Fatalf("group_by=week: %d, want 400", status)
			}
			_, byRoute := usageTotal(t, g, "acme", "route")
			routes := map[string]int64{}
			for _, r := range byRoute {
				routes[r.Route] += r.Requests
			}
			if routes["api"] != 9 || routes["limited"] != 2 {
				t.Fatalf("by route %v, want api 9, limited 2", routes)
			}

			period := time.Now().UTC().Format("2006-01")
			status, inv := adminJSON(t, g, "GET", "/admin/invoices/acme?period="+period, "")
			if status != 200 {
				t.Fatalf("invoice: %d %v", status, inv)
			}
			// 8 billable, 5 included: 3 over, billed as one started 1000 at 0.50.
			if inv["total"] != "49.50" || inv["currency"] != "USD" {
				t.Fatalf("invoice %v, want total 49.50 USD", inv)
			}

			// Units reported by the upstream are billed and hidden from the client.
			llm := "X-API-Key: llm-key-0123456789ab"
			for range 2 {
				r := get(t, g.URL+"/units/x", llm)
				if r.Status != 200 || r.Header.Get("X-Usage-Units") != "" {
					t.Fatalf("units request: %d, X-Usage-Units %q reached the client", r.Status, r.Header.Get("X-Usage-Units"))
				}
			}
			if sum := waitUsage(t, g, "llm", 2); sum.Units != 3000 || sum.Billable != 2 {
				t.Fatalf("llm usage %+v, want units 3000, billable 2", sum)
			}
			_, inv = adminJSON(t, g, "GET", "/admin/invoices/llm?period="+period, "")
			if inv["total"] != "0.06" {
				t.Fatalf("llm invoice %v, want total 0.06 (3 x 0.02)", inv)
			}
			status, csv := g.Admin("GET", "/admin/usage?consumer=acme&group_by=route&format=csv", "")
			if status != 200 || !strings.Contains(string(csv), "consumer") || !strings.Contains(string(csv), "acme") {
				t.Fatalf("csv: %d %s", status, csv)
			}
		})
	}
}

// TestUsageSurvivesShutdown: a gateway stopped with SIGTERM right after a
// burst loses no count.
func TestUsageSurvivesShutdown(t *testing.T) {
	storage := fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db"))
	cfg := strings.Replace(meteredConfig(storage, meteredUpstream(t)), "flush_interval: 100ms", "flush_interval: 1m", 1)
	g := testkit.Start(t, cfg)
	const n = 200
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 8 {
				if s := get(t, g.URL+"/api/ok", "X-API-Key: acme-key-0123456789").Status; s != 200 {
					t.Errorf("client %d: %d", c, s)
				}
			}
		}()
	}
	wg.Wait()
	g.Signal(syscall.SIGTERM)
	if code := g.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	g2 := testkit.StartFile(t, g.ConfigPath)
	if sum, _ := usageTotal(t, g2, "acme", "day"); sum.Requests != n || sum.Billable != n {
		t.Fatalf("after SIGTERM: %+v, want %d requests, all billable", sum, n)
	}

	// The same ledger through the command line.
	out, err := exec.Command(testkit.Binary(t), "usage", "-c", g.ConfigPath, "--consumer", "acme", "--format", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("gantry usage: %v\n%s", err, out)
	}
	var rep struct{ Rows []usageRow }
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Rows) != 1 || rep.Rows[0].Requests != n {
		t.Fatalf("gantry usage --format json: %v\n%s", err, out)
	}
	// pro: 49.00 a month, 5 requests included, 0.50 per started 1000 over.
	out, err = exec.Command(testkit.Binary(t), "invoice", "-c", g.ConfigPath, "--consumer", "acme", "--format", "json").CombinedOutput()
	var inv map[string]any
	if err != nil || json.Unmarshal(out, &inv) != nil || inv["total"] != "49.50" {
		t.Fatalf("gantry invoice: %v\n%s", err, out)
	}
}

// TestUsageTwoNodes: two gateways on one PostgreSQL report the sum.
func TestUsageTwoNodes(t *testing.T) {
	storage := fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", storetest.PostgresDSN(t))
	cfg := meteredConfig(storage, meteredUpstream(t))
	a, b := testkit.Start(t, cfg), testkit.Start(t, cfg)
	for i := range 30 {
		node := a
		if i%3 == 0 {
			node = b
		}
		if s := get(t, node.URL+"/api/ok", "X-API-Key: acme-key-0123456789").Status; s != 200 {
			t.Fatalf("status %d", s)
		}
	}
	if sum := waitUsage(t, a, "acme", 30); sum.Requests != 30 {
		t.Fatalf("two nodes: %d requests, want 30", sum.Requests)
	}
}

// TestUsageExport: usage reaches an OpenMeter-style receiver as CloudEvents
// even when the receiver was down when the gateway stopped: the events wait
// in the spool and the next start delivers them, each id once.
func TestUsageExport(t *testing.T) {
	var mu sync.Mutex
	up := false
	seen := map[string]int{}
	var requests float64
	recv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(503)
			return
		}
		var evs []struct {
			ID      string         `json:"id"`
			Subject string         `json:"subject"`
			Data    map[string]any `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&evs); err != nil {
			w.WriteHeader(400)
			return
		}
		for _, e := range evs {
			seen[e.ID]++
			if seen[e.ID] == 1 && e.Subject == "acme" {
				requests += e.Data["requests"].(float64)
			}
		}
		w.WriteHeader(204)
	}))
	storage := fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db"))
	cfg := strings.Replace(meteredConfig(storage, meteredUpstream(t)), "usage: {flush_interval: 100ms}",
		fmt.Sprintf("usage: {flush_interval: 100ms, export: {url: %q, spool_dir: %q}}", recv.URL+"/api/v1/events", filepath.Join(t.TempDir(), "spool")), 1)
	g := testkit.Start(t, cfg)
	for range 25 {
		if s := get(t, g.URL+"/api/ok", "X-API-Key: acme-key-0123456789").Status; s != 200 {
			t.Fatalf("status %d", s)
		}
	}
	g.Signal(syscall.SIGTERM)
	if code := g.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	testkit.StartFile(t, g.ConfigPath)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := requests
		mu.Unlock()
		if got == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver counted %v requests, want 25", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUsageBodyTooLargeNotBilled: 413s are the gateway's refusals, never
// billed, whether the declared length or the streamed body gave them away.
func TestUsageBodyTooLargeNotBilled(t *testing.T) {
	storage := fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db"))
	cfg := strings.Replace(meteredConfig(storage, meteredUpstream(t)), "    auth: [api_key]\n", "    auth: [api_key]\n    max_body_bytes: 16\n", 1)
	g := testkit.Start(t, cfg)
	key := "X-API-Key: acme-key-0123456789"
	if s := do(t, "POST", g.URL+"/api/ok", strings.Repeat("x", 100), key).Status; s != 413 {
		t.Fatalf("declared length: %d, want 413", s)
	}
	req, _ := http.NewRequest("POST", g.URL+"/api/ok", io.MultiReader(strings.NewReader(strings.Repeat("x", 100))))
	req.Header.Set("X-API-Key", "acme-key-0123456789")
	req.ContentLength = -1 // sent chunked: only the stream shows the size
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("streamed body: %d, want 413", resp.StatusCode)
	}
	if s := get(t, g.URL+"/api/ok", key).Status; s != 200 {
		t.Fatalf("GET: %d", s)
	}
	if sum := waitUsage(t, g, "acme", 3); sum.Requests != 3 || sum.Billable != 1 {
		t.Fatalf("usage %+v, want 3 requests, 1 billable", sum)
	}
}
