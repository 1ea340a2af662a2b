package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// ledgerRow is a row of /admin/usage with every field the report has.
type ledgerRow struct {
	Consumer      string  `json:"consumer"`
	Route         string  `json:"route"`
	Requests      int64   `json:"requests"`
	Admitted      int64   `json:"admitted"`
	Billable      int64   `json:"billable"`
	Units         int64   `json:"units"`
	Errors        int64   `json:"errors"`
	WSMessagesIn  int64   `json:"ws_messages_in"`
	WSMessagesOut int64   `json:"ws_messages_out"`
	WSSeconds     float64 `json:"ws_seconds"`
}

// ledgerByRoute returns this month's usage of every consumer, by consumer
// and route.
func ledgerByRoute(t *testing.T, g *testkit.Gantry) map[[2]string]ledgerRow {
	t.Helper()
	status, body := g.Admin("GET", "/admin/usage?group_by=route", "")
	if status != 200 {
		t.Fatalf("/admin/usage: %d %s", status, body)
	}
	var out struct{ Rows []ledgerRow }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("/admin/usage body %s: %v", body, err)
	}
	m := map[[2]string]ledgerRow{}
	for _, r := range out.Rows {
		m[[2]string{r.Consumer, r.Route}] = r
	}
	return m
}

// TestUsageSources: each kind of traffic reaches the ledger as the
// contract counts it. A WebSocket session is one request plus its messages
// each way and its connected seconds; an aggregate is one request and one
// unit whatever its calls; a GET retried on another target is one request;
// anonymous requests on a public route are counted under consumer "" and
// billed to no one.
func TestUsageSources(t *testing.T) {
	ws, wsURL := newWSEcho(t)
	var calls atomic.Int64
	svc := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id": %q}`, r.URL.Path)
	}))
	bad, good := newInstance(t, "bad"), newInstance(t, "good")
	bad.status.Store(http.StatusBadGateway)
	public := testkit.NewEcho(t, "public")
	g := testkit.Start(t, base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
usage: {flush_interval: 100ms}
plans:
  pro:
    pricing: {currency: USD, monthly_fee: 10.00, included_requests: 0, per_1000_over: 1.00}
consumers:
  - id: acme
    plan: pro
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  chat: {targets: [{url: %q}]}
  svc: {targets: [{url: %q}]}
  flaky:
    targets: [{url: %q}, {url: %q}]
    retries: 1
  public: {targets: [{url: %q}]}
routes:
  - name: chat
    match: {path: /ws}
    upstream: chat
    auth: [api_key]
  - name: dashboard
    match: {path: "/dashboard/{user_id}", methods: [GET]}
    auth: [api_key]
    aggregate:
      calls:
        - {name: user, upstream: svc, path: "/users/{user_id}"}
        - {name: orders, upstream: svc, path: "/orders?user_id={user_id}"}
        - {name: recs, upstream: svc, path: /recs}
  - name: flaky
    match: {path_prefix: /flaky}
    upstream: flaky
    auth: [api_key]
  - name: public
    match: {path_prefix: /public}
    upstream: public
`, filepath.Join(t.TempDir(), "gantry.db"), wsURL, svc.URL, bad.URL, good.URL, public.URL)))
	key := "X-API-Key: acme-key-0123456789"

	// WebSocket: five messages each way over at least a second.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"X-API-Key": {"acme-key-0123456789"}}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d", resp.StatusCode)
	}
	echoN(t, ctx, c, 5)
	time.Sleep(1100 * time.Millisecond)
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	ws.waitEnded(t, 5*time.Second)
	open := time.Since(start).Seconds()

	// Aggregate: two requests, three calls each.
	for i := range 2 {
		if r := get(t, g.URL+fmt.Sprintf("/dashboard/%d", i), key); r.Status != 200 {
			t.Fatalf("dashboard: %d %s", r.Status, r.Body)
		}
	}
	if calls.Load() != 6 {
		t.Fatalf("the aggregate made %d calls, want 6", calls.Load())
	}

	// Retries: every GET answered 200, some after a 502 from bad.
	const flaky = 4
	for range flaky {
		if r := get(t, g.URL+"/flaky/x", key); r.Status != 200 {
			t.Fatalf("flaky: %d %s, want 200 after a retry", r.Status, r.Body)
		}
	}
	if bad.hits.Load() == 0 || good.hits.Load() != flaky {
		t.Fatalf("bad saw %d, good %d attempts; want some on bad and %d on good", bad.hits.Load(), good.hits.Load(), flaky)
	}

	// Anonymous requests on a public route.
	const anonymous = 3
	for range anonymous {
		if r := get(t, g.URL+"/public/x"); r.Status != 200 {
			t.Fatalf("public: %d", r.Status)
		}
	}

	want := map[[2]string]ledgerRow{
		{"acme", "chat"}:      {Consumer: "acme", Route: "chat", Requests: 1, Admitted: 1, Billable: 1, Units: 1, WSMessagesIn: 5, WSMessagesOut: 5},
		{"acme", "dashboard"}: {Consumer: "acme", Route: "dashboard", Requests: 2, Admitted: 2, Billable: 2, Units: 2},
		{"acme", "flaky"}:     {Consumer: "acme", Route: "flaky", Requests: flaky, Admitted: flaky, Billable: flaky, Units: flaky},
		{"", "public"}:        {Consumer: "", Route: "public", Requests: anonymous, Admitted: anonymous, Billable: anonymous, Units: anonymous},
	}
	var got map[[2]string]ledgerRow
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = ledgerByRoute(t, g)
		var n, wantN int64
		for _, r := range got {
			n += r.Requests
		}
		for _, r := range want {
			wantN += r.Requests
		}
		if n >= wantN || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Connected seconds depend on the clock: check them apart.
	chat := got[[2]string{"acme", "chat"}]
	if chat.WSSeconds < 1.09 || chat.WSSeconds > open+0.5 {
		t.Errorf("ws_seconds = %v, want from the 1.1 s it was kept open to %.2f (the session's length seen by the client)", chat.WSSeconds, open)
	}
	chat.WSSeconds = 0
	got[[2]string{"acme", "chat"}] = chat
	if len(got) != len(want) {
		t.Errorf("ledger has %d consumer-route rows, want %d: %+v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("consumer %q route %q:\n got %+v\nwant %+v", k[0], k[1], got[k], w)
		}
	}

	// The invoice bills acme's seven requests, not the anonymous ones.
	status, inv := adminJSON(t, g, "GET", "/admin/invoices/acme", "")
	if status != 200 {
		t.Fatalf("invoice: %d %v", status, inv)
	}
	u, _ := inv["usage"].(map[string]any)
	if u["requests"] != 7.0 || u["billable"] != 7.0 {
		t.Errorf("invoice usage %v, want 7 requests, 7 billable", u)
	}
}
