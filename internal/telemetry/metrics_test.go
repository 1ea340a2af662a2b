package telemetry

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scrape fetches m's exposition and returns every sample line as
// series -> value, and the response's content type.
func scrape(t *testing.T, m *Metrics) (map[string]string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d, want 200", rec.Code)
	}
	out := make(map[string]string)
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			t.Fatalf("malformed exposition line %q", l)
		}
		out[l[:i]] = l[i+1:]
	}
	return out, rec.Header().Get("Content-Type")
}

func TestMetricsExposition(t *testing.T) {
	m := NewMetrics()
	users := m.Route("users")
	users.Observe("GET", 200, 3*time.Millisecond)
	users.Observe("GET", 200, 30*time.Millisecond)
	users.Observe("PUT", 502, 2*time.Second)
	users.Observe("BREW", 418, time.Millisecond)
	users.RateLimited()
	users.RateLimited()
	m.Unmatched("GET", 404, 100*time.Microsecond)
	m.SetUpstreamHealthy("users", "http://127.0.0.1:9101", true)
	m.SetUpstreamHealthy("users", "http://127.0.0.1:9102", false)
	m.Target("users", "http://127.0.0.1:9101").Observe(200)
	m.Target("users", "http://127.0.0.1:9102").Observe(0)
	m.Reload(true)
	m.Reload(false)
	m.Reload(false)
	m.SetGeneration(3)
	m.RequestStarted()
	m.RequestStarted()
	m.RequestDone()
	m.ConnectionOpened()
	m.ConnectionOpened()
	m.ConnectionOpened()
	m.ConnectionClosed()
	m.ConnectionRejected()
	m.RequestShed()
	m.RequestShed()

	got, ctype := scrape(t, m)
	if !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ctype)
	}
	tests := []struct {
		series string
		want   string
	}{
		{`gantry_requests_total{method="GET",route="users",status="200"}`, "2"},
		{`gantry_requests_total{method="PUT",route="users",status="502"}`, "1"},
		{`gantry_requests_total{method="OTHER",route="users",status="418"}`, "1"},
		{`gantry_requests_total{method="GET",route="(none)",status="404"}`, "1"},
		{`gantry_request_duration_seconds_count{route="users"}`, "4"},
		{`gantry_request_duration_seconds_bucket{route="users",le="0.0025"}`, "1"},
		{`gantry_request_duration_seconds_bucket{route="users",le="0.005"}`, "2"},
		{`gantry_request_duration_seconds_bucket{route="users",le="0.05"}`, "3"},
		{`gantry_request_duration_seconds_bucket{route="users",le="2.5"}`, "4"},
		{`gantry_request_duration_seconds_bucket{route="(none)",le="0.0005"}`, "1"},
		{`gantry_rate_limited_total{route="users"}`, "2"},
		{`gantry_upstream_healthy{target="http://127.0.0.1:9101",upstream="users"}`, "1"},
		{`gantry_upstream_healthy{target="http://127.0.0.1:9102",upstream="users"}`, "0"},
		{`gantry_upstream_requests_total{status="200",target="http://127.0.0.1:9101",upstream="users"}`, "1"},
		{`gantry_upstream_requests_total{status="error",target="http://127.0.0.1:9102",upstream="users"}`, "1"},
		{`gantry_config_reloads_total{result="success"}`, "1"},
		{`gantry_config_reloads_total{result="failure"}`, "2"},
		{`gantry_config_generation`, "3"},
		{`gantry_requests_in_flight`, "1"},
		{`gantry_access_log_dropped_total`, "0"},
		{`gantry_connections_open{listener="client"}`, "2"},
		{`gantry_connections_open{listener="admin"}`, "0"},
		{`gantry_connections_rejected_total`, "1"},
		{`gantry_requests_shed_total`, "2"},
	}
	for _, tt := range tests {
		if v, ok := got[tt.series]; !ok {
			t.Errorf("series %s missing", tt.series)
		} else if v != tt.want {
			t.Errorf("%s = %s, want %s", tt.series, v, tt.want)
		}
	}
	if v := got["gantry_config_last_reload_success_timestamp_seconds"]; v == "" || v == "0" {
		t.Errorf("last reload success timestamp = %q, want set", v)
	}
	var goSeen, processSeen bool
	for k := range got {
		goSeen = goSeen || strings.HasPrefix(k, "go_goroutines")
		processSeen = processSeen || strings.HasPrefix(k, "process_")
	}
	if !goSeen {
		t.Error("Go runtime collector missing")
	}
	if !processSeen {
		t.Log("process collector exports nothing on this platform")
	}
}

func TestMetricsArePrivate(t *testing.T) {
	// Two sets on the default registry would panic with a duplicate
	// registration.
	a, b := NewMetrics(), NewMetrics()
	a.Route("users").Observe("GET", 200, time.Millisecond)
	got, _ := scrape(t, b)
	if _, ok := got[`gantry_requests_total{method="GET",route="users",status="200"}`]; ok {
		t.Error("a request observed on one Metrics shows on another")
	}
}

func TestRouteHandleReused(t *testing.T) {
	m := NewMetrics()
	first, second := m.Route("orders"), m.Route("orders")
	if first != second {
		t.Error("Route(orders) returned two handles")
	}
	if m.Route("orders") == m.Route("users") {
		t.Error("two routes share a handle")
	}
	if got := m.Route("orders").Name(); got != "orders" {
		t.Errorf("Name() = %q, want orders", got)
	}
}

func TestMethodLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"},
		{"PATCH", "PATCH"}, {"DELETE", "DELETE"}, {"OPTIONS", "OPTIONS"},
		{"CONNECT", "CONNECT"}, {"TRACE", "TRACE"},
		{"get", "OTHER"}, {"PROPFIND", "OTHER"}, {"", "OTHER"}, {"GET ", "OTHER"},
	}
	for _, tt := range tests {
		if got := methodLabel(tt.in); got != tt.want {
			t.Errorf("methodLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStatusLabel(t *testing.T) {
	tests := []struct {
		in   int
		want string
	}{
		{100, "100"}, {200, "200"}, {204, "204"}, {499, "499"}, {599, "599"},
		{0, "0"}, {99, "0"}, {600, "0"}, {-1, "0"}, {1000, "0"},
	}
	for _, tt := range tests {
		if got := statusLabel(tt.in); got != tt.want {
			t.Errorf("statusLabel(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = statusLabel(404) }); n != 0 {
		t.Errorf("statusLabel allocates %v times, want 0", n)
	}
}

// TestCounterTableOverflow sees more (method, status) pairs than the table
// holds: the ones past it go through the vector and still count right.
func TestCounterTableOverflow(t *testing.T) {
	m := NewMetrics()
	rm := m.Route("noisy")
	const pairs = counterTableSize + 20
	for round := range 2 {
		for i := range pairs {
			rm.Observe(methodLabels[i%numMethods], 200+i, time.Millisecond)
		}
		got, _ := scrape(t, m)
		for i := range pairs {
			k := fmt.Sprintf(`gantry_requests_total{method=%q,route="noisy",status="%d"}`, methodLabels[i%numMethods], 200+i)
			if want := fmt.Sprint(round + 1); got[k] != want {
				t.Fatalf("round %d: %s = %q, want %s", round, k, got[k], want)
			}
		}
	}
}

func TestObserveConcurrent(t *testing.T) {
	m := NewMetrics()
	rm := m.Route("users")
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				status := 200
				if i%2 == 1 {
					status = 500 + w%2
				}
				rm.Observe("GET", status, time.Millisecond)
			}
		})
	}
	wg.Wait()
	got, _ := scrape(t, m)
	tests := []struct{ series, want string }{
		{`gantry_requests_total{method="GET",route="users",status="200"}`, fmt.Sprint(workers * each / 2)},
		{`gantry_requests_total{method="GET",route="users",status="500"}`, fmt.Sprint(workers / 2 * each / 2)},
		{`gantry_requests_total{method="GET",route="users",status="501"}`, fmt.Sprint(workers / 2 * each / 2)},
		{`gantry_request_duration_seconds_count{route="users"}`, fmt.Sprint(workers * each)},
	}
	for _, tt := range tests {
		if got[tt.series] != tt.want {
			t.Errorf("%s = %q, want %s", tt.series, got[tt.series], tt.want)
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m := NewMetrics()
	rm := m.Route("users")
	rm.Observe("GET", 200, time.Millisecond)
	tm := m.Target("users", "http://127.0.0.1:9101")
	tm.Observe(200)
	tests := []struct {
		name string
		fn   func()
	}{
		{"RouteMetrics.Observe", func() { rm.Observe("GET", 200, time.Millisecond) }},
		{"Metrics.Unmatched", func() { m.Unmatched("GET", 404, time.Millisecond) }},
		{"TargetMetrics.Observe", func() { tm.Observe(200) }},
		{"RequestStarted/Done", func() { m.RequestStarted(); m.RequestDone() }},
	}
	for _, tt := range tests {
		tt.fn() // Warm the caches.
		if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", tt.name, n)
		}
	}
}

func TestNilHandles(t *testing.T) {
	var rm *RouteMetrics
	rm.Observe("GET", 200, time.Millisecond)
	rm.RateLimited()
	var tm *TargetMetrics
	tm.Observe(200)
}

func TestDeleteUpstream(t *testing.T) {
	m := NewMetrics()
	m.SetUpstreamHealthy("users", "http://127.0.0.1:9101", true)
	m.SetUpstreamHealthy("users", "http://127.0.0.1:9102", true)
	m.SetUpstreamHealthy("orders", "http://127.0.0.1:9201", false)
	m.Target("users", "http://127.0.0.1:9101").Observe(200)

	m.DeleteUpstreamTarget("users", "http://127.0.0.1:9102")
	got, _ := scrape(t, m)
	if _, ok := got[`gantry_upstream_healthy{target="http://127.0.0.1:9102",upstream="users"}`]; ok {
		t.Error("deleted target still exported")
	}
	if _, ok := got[`gantry_upstream_healthy{target="http://127.0.0.1:9101",upstream="users"}`]; !ok {
		t.Error("a target that stays was deleted")
	}

	m.DeleteUpstream("users")
	got, _ = scrape(t, m)
	for k := range got {
		if strings.HasPrefix(k, "gantry_upstream_healthy{") && strings.Contains(k, `upstream="users"`) {
			t.Errorf("DeleteUpstream(users) left %s", k)
		}
	}
	if got[`gantry_upstream_healthy{target="http://127.0.0.1:9201",upstream="orders"}`] != "0" {
		t.Error("DeleteUpstream(users) touched orders")
	}
	// Counters are cumulative and stay.
	if got[`gantry_upstream_requests_total{status="200",target="http://127.0.0.1:9101",upstream="users"}`] != "1" {
		t.Error("DeleteUpstream dropped a request counter")
	}
}

// A route's series appear with its first request: a table of 10,000
// routes would otherwise hold 10,000 empty histograms (about 1.7 KiB each
// with their counter table). Requests that match no route have theirs
// from the start.
func TestRouteSeriesOnFirstRequest(t *testing.T) {
	m := NewMetrics()
	orders := m.Route("orders")
	m.Route("users")
	got, _ := scrape(t, m)
	for k := range got {
		if strings.Contains(k, `route="orders"`) || strings.Contains(k, `route="users"`) {
			t.Errorf("%s exported before the route served", k)
		}
	}
	if got[`gantry_request_duration_seconds_count{route="(none)"}`] != "0" {
		t.Error(`gantry_request_duration_seconds_count{route="(none)"} missing before any request`)
	}

	orders.Observe("GET", 200, 3*time.Millisecond)
	got, _ = scrape(t, m)
	tests := []struct{ series, want string }{
		{`gantry_requests_total{method="GET",route="orders",status="200"}`, "1"},
		{`gantry_request_duration_seconds_count{route="orders"}`, "1"},
		{`gantry_request_duration_seconds_bucket{route="orders",le="0.005"}`, "1"},
		{`gantry_request_duration_seconds_bucket{route="orders",le="+Inf"}`, "1"},
	}
	for _, tt := range tests {
		if v := got[tt.series]; v != tt.want {
			t.Errorf("%s = %q, want %q", tt.series, v, tt.want)
		}
	}
	for k := range got {
		if strings.Contains(k, `route="users"`) {
			t.Errorf("%s exported though users never served", k)
		}
	}
}

func TestRateLimitedSeriesOnDemand(t *testing.T) {
	m := NewMetrics()
	m.Route("public")
	got, _ := scrape(t, m)
	if _, ok := got[`gantry_rate_limited_total{route="public"}`]; ok {
		t.Error("a route never rate limited exports gantry_rate_limited_total")
	}
}

func TestWebSocketMetrics(t *testing.T) {
	m := NewMetrics()
	chat := m.WebSocket("chat")
	if m.WebSocket("chat") != chat {
		t.Fatal("WebSocket(chat) returned two handles")
	}
	m.WebSocket("users") // compiled, never upgraded
	got, _ := scrape(t, m)
	for k := range got {
		if strings.HasPrefix(k, "gantry_websocket_") {
			t.Errorf("%s exported before any connection opened", k)
		}
	}

	chat.Opened()
	chat.Opened()
	chat.Opened()
	chat.MessagesIn(3)
	chat.MessagesOut(5)
	chat.MessagesIn(1)
	chat.Closed(WSIdleTimeout)
	chat.Closed(WSClientClosed)
	chat.Closed("protocol_error") // not a known reason: still counted
	got, _ = scrape(t, m)
	tests := []struct{ series, want string }{
		{`gantry_websocket_connections{route="chat"}`, "0"},
		{`gantry_websocket_messages_total{direction="in",route="chat"}`, "4"},
		{`gantry_websocket_messages_total{direction="out",route="chat"}`, "5"},
		{`gantry_websocket_closed_total{reason="idle_timeout",route="chat"}`, "1"},
		{`gantry_websocket_closed_total{reason="client_closed",route="chat"}`, "1"},
		{`gantry_websocket_closed_total{reason="protocol_error",route="chat"}`, "1"},
		{`gantry_websocket_closed_total{reason="upstream_closed",route="chat"}`, "0"},
		{`gantry_websocket_closed_total{reason="max_lifetime",route="chat"}`, "0"},
		{`gantry_websocket_closed_total{reason="route_removed",route="chat"}`, "0"},
		{`gantry_websocket_closed_total{reason="shutdown",route="chat"}`, "0"},
	}
	for _, tt := range tests {
		if v, ok := got[tt.series]; !ok {
			t.Errorf("series %s missing", tt.series)
		} else if v != tt.want {
			t.Errorf("%s = %s, want %s", tt.series, v, tt.want)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "gantry_websocket_") && strings.Contains(k, `route="users"`) {
			t.Errorf("%s exported for a route without connections", k)
		}
	}
}

func TestGRPCMetrics(t *testing.T) {
	m := NewMetrics()
	g := m.GRPC("orders")
	if m.GRPC("orders") != g {
		t.Fatal("GRPC(orders) returned two handles")
	}
	for _, s := range []string{"0", "0", "5", "14", "16", "17", "99", "-1", "", "05", "1a", "OK", "100"} {
		g.Observe(s)
	}
	got, _ := scrape(t, m)
	tests := []struct{ series, want string }{
		{`gantry_grpc_responses_total{grpc_status="0",route="orders"}`, "2"},
		{`gantry_grpc_responses_total{grpc_status="5",route="orders"}`, "1"},
		{`gantry_grpc_responses_total{grpc_status="14",route="orders"}`, "1"},
		{`gantry_grpc_responses_total{grpc_status="16",route="orders"}`, "1"},
		{`gantry_grpc_responses_total{grpc_status="unknown",route="orders"}`, "8"},
	}
	for _, tt := range tests {
		if v, ok := got[tt.series]; !ok {
			t.Errorf("series %s missing", tt.series)
		} else if v != tt.want {
			t.Errorf("%s = %s, want %s", tt.series, v, tt.want)
		}
	}
	n := 0
	for k := range got {
		if strings.HasPrefix(k, "gantry_grpc_responses_total{") {
			n++
		}
	}
	if n != len(tests) {
		t.Errorf("%d gantry_grpc_responses_total series, want %d: odd statuses must share one label", n, len(tests))
	}
}

func TestStreamHandlesDoNotAllocate(t *testing.T) {
	m := NewMetrics()
	ws := m.WebSocket("chat")
	ws.Opened()
	g := m.GRPC("orders")
	tests := []struct {
		name string
		fn   func()
	}{
		{"WebSocketMetrics.MessagesIn", func() { ws.MessagesIn(2) }},
		{"WebSocketMetrics.MessagesOut", func() { ws.MessagesOut(1) }},
		{"WebSocketMetrics.Opened/Closed", func() { ws.Opened(); ws.Closed(WSClientClosed) }},
		{"GRPCMetrics.Observe", func() { g.Observe("14") }},
	}
	for _, tt := range tests {
		tt.fn() // Warm the caches.
		if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", tt.name, n)
		}
	}
}

func TestNilStreamHandles(t *testing.T) {
	var ws *WebSocketMetrics
	ws.Opened()
	ws.MessagesIn(1)
	ws.MessagesOut(1)
	ws.Closed(WSShutdown)
	var g *GRPCMetrics
	g.Observe("0")
}
