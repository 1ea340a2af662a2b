package aggregate

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

func TestIndependentCallsRunConcurrently(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	s := setup{upstreams: map[string][]string{
		"users":   {jsonUpstream(t, delay, `{"id":7,"name":"Ada"}`).URL},
		"orders":  {jsonUpstream(t, delay, `[{"id":1}]`).URL},
		"billing": {jsonUpstream(t, delay, `{"plan":"pro"}`).URL},
	}}
	h, _ := s.build(t, calls(
		&config.AggregateCall{Name: "user", Upstream: "users", Path: "/users/{user_id}"},
		&config.AggregateCall{Name: "orders", Upstream: "orders", Path: "/orders?user_id={user_id}"},
		&config.AggregateCall{Name: "billing", Upstream: "billing", Path: "/billing/{user_id}"},
	))
	// Warm the connections, so the measurement is not about dialing.
	if _, err := serve(h, "/dashboard/7", params("7")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec, err := serve(h, "/dashboard/7", params("7"))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	// Sequential calls would take 300ms; the bound leaves room for a busy
	// machine while still telling the two apart.
	if elapsed >= 250*time.Millisecond {
		t.Errorf("three %s calls took %s, want about %s (concurrent), well below %s", delay, elapsed, delay, 3*delay)
	}
	want := `{"user":{"id":7,"name":"Ada"},"orders":[{"id":1}],"billing":{"plan":"pro"}}`
	if got := rec.Body.String(); got != want {
		t.Errorf("answer = %s, want %s", got, want)
	}
	if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(want)) {
		t.Errorf("Content-Length = %q, want %d", got, len(want))
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
}

// TestIndependentCallsOverlap proves concurrency without timing: each
// upstream answers only once all three requests have arrived.
func TestIndependentCallsOverlap(t *testing.T) {
	t.Parallel()
	var arrived sync.WaitGroup
	arrived.Add(3)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	barrier := func(body string) string {
		return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			arrived.Done()
			select {
			case <-all:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}).URL
	}
	s := setup{upstreams: map[string][]string{"a": {barrier(`1`)}, "b": {barrier(`2`)}, "c": {barrier(`3`)}}}
	h, _ := s.build(t, calls(
		&config.AggregateCall{Name: "a", Upstream: "a", Path: "/a"},
		&config.AggregateCall{Name: "b", Upstream: "b", Path: "/b"},
		&config.AggregateCall{Name: "c", Upstream: "c", Path: "/c"},
	))
	rec, err := serve(h, "/dashboard/7", params("7"))
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v (calls did not overlap)", err)
	}
	if got, want := rec.Body.String(), `{"a":1,"b":2,"c":3}`; got != want {
		t.Errorf("answer = %s, want %s", got, want)
	}
}

// TestChainedCallWaitsOnlyForItsDependency: "orders" needs "user" only, so
// it must start while the unrelated "recs" is still running. recs answers
// only once orders has arrived, so a level-by-level scheduler would stall
// until the aggregate's timeout.
func TestChainedCallWaitsOnlyForItsDependency(t *testing.T) {
	t.Parallel()
	ordersArrived := make(chan struct{})
	var gotQuery atomic.Value
	users := jsonUpstream(t, 0, `{"id":"u-42","name":"Ada"}`)
	orders := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		gotQuery.Store(r.URL.RawQuery)
		close(ordersArrived)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `[{"id":1,"total":"9.90"}]`)
	})
	recs := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ordersArrived:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `["book"]`)
	})
	s := setup{upstreams: map[string][]string{"users": {users.URL}, "orders": {orders.URL}, "recs": {recs.URL}}}
	a := calls(
		&config.AggregateCall{Name: "user", Upstream: "users", Path: "/users/{user_id}"},
		&config.AggregateCall{Name: "recs", Upstream: "recs", Path: "/recs"},
		&config.AggregateCall{Name: "orders", Upstream: "orders", Path: "/orders?user_id={user.id}"},
	)
	a.Timeout = config.Duration(3 * time.Second)
	h, _ := s.build(t, a)
	rec, err := serve(h, "/dashboard/42", params("42"))
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	if got := gotQuery.Load(); got != "user_id=u-42" {
		t.Errorf("orders query = %v, want user_id=u-42", got)
	}
	want := `{"user":{"id":"u-42","name":"Ada"},"recs":["book"],"orders":[{"id":1,"total":"9.90"}]}`
	if got := rec.Body.String(); got != want {
		t.Errorf("answer = %s, want %s", got, want)
	}
}

func TestRequestsCarryGatewayHeadersAndTemplates(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, host, body string
		header                  http.Header
	}
	got := make(chan seen, 2)
	echo := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, string(b), r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"id":12345678901234567890,"name":"Ada \"the\" Countess","tags":["a/b","c d"]}`)
	})
	s := setup{path: "/dashboard/{user_id}", upstreams: map[string][]string{"users": {echo.URL + "/base"}}}
	h, _ := s.build(t, calls(
		&config.AggregateCall{Name: "user", Upstream: "users", Path: "/users/{user_id}?v=1"},
		&config.AggregateCall{
			Name: "audit", Upstream: "users", Method: "POST",
			Path:    "/audit/{user.tags.0}?tag={user.tags.1}&name={user.name}",
			Headers: map[string]string{"X-User-Name": "{user.name}", "X-Source": "dashboard"},
			Body:    `{"id": {user.id}, "tags": {user.tags}, "note": "user {user_id} is {user.name}"}`,
		},
	))
	x := params("a b/ü")
	x.ClientIP, x.TLS = "203.0.113.9", true
	x.Consumer = &pipeline.Consumer{ID: "acme", Groups: []string{"partners", "beta"}}
	rec, err := serve(h, "http://api.example.com/dashboard/x", x)
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	first, second := <-got, <-got
	if want := "/base/users/a%20b/%C3%BC?v=1"; first.uri != want {
		t.Errorf("user request URI = %q, want %q", first.uri, want)
	}
	if second.method != "POST" {
		t.Errorf("audit method = %q, want POST", second.method)
	}
	if want := "/base/audit/a%2Fb?tag=c+d&name=Ada+%22the%22+Countess"; second.uri != want {
		t.Errorf("audit request URI = %q, want %q", second.uri, want)
	}
	wantBody := `{"id": 12345678901234567890, "tags": ["a/b","c d"], "note": "user a b/ü is Ada \"the\" Countess"}`
	if second.body != wantBody {
		t.Errorf("audit body = %s, want %s", second.body, wantBody)
	}
	if !json.Valid([]byte(second.body)) {
		t.Errorf("audit body is not valid JSON")
	}
	// Every call carries the gateway's fields.
	gateway := map[string]string{
		"X-Request-Id":      "req-7f3a",
		"X-Consumer-Id":     "acme",
		"X-Consumer-Groups": "partners,beta",
		"X-Forwarded-Host":  "api.example.com",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-For":   "192.0.2.1",
		"X-Real-Ip":         "203.0.113.9",
	}
	checkHeader := func(call string, h http.Header, own map[string]string) {
		t.Helper()
		for _, m := range []map[string]string{gateway, own} {
			for name, want := range m {
				if v := h.Get(name); v != want {
					t.Errorf("%s header %s = %q, want %q", call, name, v, want)
				}
			}
		}
	}
	checkHeader("audit", second.header, map[string]string{
		"X-User-Name":  `Ada "the" Countess`,
		"X-Source":     "dashboard",
		"Content-Type": "application/json",
	})
	// The user call adds no header of its own: it sends the run's base
	// header, checked and written once for every such call (h1.Block).
	checkHeader("user", first.header, map[string]string{
		"Accept":       "application/json",
		"X-User-Name":  "",
		"Content-Type": "",
	})
	if u := strings.TrimPrefix(echo.URL, "http://"); first.host != u {
		t.Errorf("Host = %q, want the target's %q", first.host, u)
	}
	// Big integers survive decoding and re-encoding.
	if !strings.Contains(rec.Body.String(), `"id":12345678901234567890`) {
		t.Errorf("answer %s lost the big integer", rec.Body.String())
	}
}

func TestFanOutKeepsOrderAndBoundsConcurrency(t *testing.T) {
	t.Parallel()
	const n = 20
	var inFlight, peak atomic.Int64
	products := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/products/"))
		// Later elements answer first, so order must come from the index.
		sleep(r.Context(), time.Duration(n-id)*2*time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%d,"name":"product %d","stock":%d}`, id, id, id*10)
	})
	var items []string
	for i := range n {
		items = append(items, fmt.Sprintf(`{"product_id":%d,"qty":1}`, i))
	}
	orders := jsonUpstream(t, 0, `{"id":9,"items":[`+strings.Join(items, ",")+`]}`)
	s := setup{upstreams: map[string][]string{"orders": {orders.URL}, "products": {products.URL}}}
	h, _ := s.build(t, calls(
		&config.AggregateCall{Name: "order", Upstream: "orders", Path: "/orders/1"},
		&config.AggregateCall{Name: "products", Upstream: "products", Path: "/products/{order.items.*.product_id}", Select: []string{"id", "name"}},
	))
	x := params("1")
	rec, err := serve(h, "/dashboard/1", x)
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	var got struct {
		Products []struct {
			ID    int    `json:"id"`
			Name  string `json:"name"`
			Stock *int   `json:"stock"`
		} `json:"products"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Products) != n {
		t.Fatalf("got %d products, want %d", len(got.Products), n)
	}
	for i, p := range got.Products {
		if p.ID != i || p.Name != fmt.Sprintf("product %d", i) || p.Stock != nil {
			t.Errorf("products[%d] = %+v, want id %d, its name, no stock (not selected)", i, p, i)
		}
	}
	if p := peak.Load(); p > FanOutConcurrency || p < 2 {
		t.Errorf("peak concurrent requests = %d, want 2..%d", p, FanOutConcurrency)
	}
	if x.Attempts != n+1 {
		t.Errorf("Attempts = %d, want %d", x.Attempts, n+1)
	}
}

func TestFanOutEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		orders  string
		wantErr string
		want    string
	}{
		{"empty array", `{"items":[]}`, "", `{"order":{"items":[]},"products":[]}`},
		{"not an array", `{"items":{"a":1}}`, `{order.items.*.product_id}: order.items is an object, not an array to fan out over`, ""},
		{"over the limit", `{"items":[{"product_id":1},{"product_id":2},{"product_id":3},{"product_id":4}]}`, "fans out to 4 requests, more than the limit of 3", ""},
		{"element without the field", `{"items":[{"product_id":1},{"sku":"x"}]}`, `request 2 ({order.items.*.product_id} = element 1): {order.items.*.product_id}: order.items.1 has no field "product_id"`, ""},
	}
	products := jsonUpstream(t, 0, `{"ok":true}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := setup{
				upstreams: map[string][]string{"orders": {jsonUpstream(t, 0, tt.orders).URL}, "products": {products.URL}},
				deps:      Deps{MaxFanOut: 3},
			}
			h, _ := s.build(t, calls(
				&config.AggregateCall{Name: "order", Upstream: "orders", Path: "/orders/1"},
				&config.AggregateCall{Name: "products", Upstream: "products", Path: "/products/{order.items.*.product_id}"},
			))
			rec, err := serve(h, "/dashboard/1", params("1"))
			if tt.wantErr != "" {
				he := httpError(t, err)
				if he.Status != http.StatusBadGateway || he.Code != pipeline.CodeAggregateFailed || !strings.Contains(he.Message, tt.wantErr) || !strings.Contains(he.Message, `"products"`) {
					t.Fatalf("error = %d %s %q, want 502 aggregate_failed naming products and containing %q", he.Status, he.Code, he.Message, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("answer = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMergeOptions(t *testing.T) {
	t.Parallel()
	user := jsonUpstream(t, 0, `{"id":7,"name":"Ada","email":"ada@example.com","address":{"city":"London","zip":"N1","geo":{"lat":51.5}}}`)
	orders := jsonUpstream(t, 0, `[{"id":1,"total":"9.90","status":"paid","secret":"x"},{"id":2,"total":"5.00","status":"open","secret":"y"}]`)
	settings := jsonUpstream(t, 0, `{"theme":"dark","lang":"en","name":"settings-name"}`)
	tests := []struct {
		name  string
		calls []*config.AggregateCall
		want  string
	}{
		{
			name: "select on an object, dotted",
			calls: []*config.AggregateCall{
				{Name: "user", Upstream: "users", Path: "/u", Select: []string{"name", "address.city", "address.geo.lat", "missing"}},
			},
			want: `{"user":{"address":{"city":"London","geo":{"lat":51.5}},"name":"Ada"}}`,
		},
		{
			name: "select on each element of an array",
			calls: []*config.AggregateCall{
				{Name: "orders", Upstream: "orders", Path: "/o", Select: []string{"id", "total", "status"}},
			},
			want: `{"orders":[{"id":1,"status":"paid","total":"9.90"},{"id":2,"status":"open","total":"5.00"}]}`,
		},
		{
			name: "rename after select, swap",
			calls: []*config.AggregateCall{
				{Name: "user", Upstream: "users", Path: "/u", Select: []string{"id", "name", "email"}, Rename: map[string]string{"id": "user_id", "name": "email", "email": "name"}},
			},
			want: `{"user":{"email":"Ada","name":"ada@example.com","user_id":7}}`,
		},
		{
			name: "rename on each element",
			calls: []*config.AggregateCall{
				{Name: "orders", Upstream: "orders", Path: "/o", Select: []string{"id"}, Rename: map[string]string{"id": "order_id"}},
			},
			want: `{"orders":[{"order_id":1},{"order_id":2}]}`,
		},
		{
			name: "flatten into the top level, later call wins",
			calls: []*config.AggregateCall{
				{Name: "user", Upstream: "users", Path: "/u", Select: []string{"id", "name"}, Flatten: true},
				{Name: "orders", Upstream: "orders", Path: "/o", Select: []string{"id"}},
				{Name: "settings", Upstream: "settings", Path: "/s", Flatten: true},
			},
			want: `{"id":7,"name":"settings-name","orders":[{"id":1},{"id":2}],"lang":"en","theme":"dark"}`,
		},
		{
			name: "flatten of an array keeps its key",
			calls: []*config.AggregateCall{
				{Name: "orders", Upstream: "orders", Path: "/o", Select: []string{"id"}, Flatten: true},
			},
			want: `{"orders":[{"id":1},{"id":2}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := setup{upstreams: map[string][]string{"users": {user.URL}, "orders": {orders.URL}, "settings": {settings.URL}}}
			h, _ := s.build(t, calls(tt.calls...))
			rec, err := serve(h, "/dashboard/7", params("7"))
			if err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("answer = %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRouteHeaderRules(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	})
	s := setup{upstreams: map[string][]string{"users": {up.URL}}}
	s.path = "/dashboard/{user_id}"
	h, _ := s.buildRoute(t, &config.Route{
		RequestHeaders:  &config.HeaderRules{Set: map[string]string{"X-Gateway": "gantry", "Accept": "application/vnd.api+json"}, Remove: []string{"X-Real-IP"}},
		ResponseHeaders: &config.HeaderRules{Set: map[string]string{"Cache-Control": "private, max-age=5"}, Add: map[string]string{"Vary": "X-API-Key"}},
		Aggregate:       calls(&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u"}),
	})
	rec, err := serve(h, "/dashboard/1", params("1"))
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	hd := <-got
	if hd.Get("X-Gateway") != "gantry" || hd.Get("Accept") != "application/vnd.api+json" || hd.Get("X-Real-Ip") != "" || hd.Get("X-Request-Id") != "req-7f3a" {
		t.Errorf("call headers = %v, want request_headers applied over the gateway's", hd)
	}
	if rec.Header().Get("Cache-Control") != "private, max-age=5" || rec.Header().Get("Vary") != "X-API-Key" {
		t.Errorf("answer headers = %v, want response_headers applied", rec.Header())
	}
}
