package telemetry

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestOpsExposition(t *testing.T) {
	m := NewMetrics()
	m.SetBuildInfo("v1.4.0")
	orders := m.Route("orders")
	orders.Observe("POST", 201, time.Millisecond)
	orders.ObserveSizes(300, 5000)
	orders.RateLimitDecision(DecisionAllowed)
	orders.RateLimitDecision(DecisionAllowed)
	orders.RateLimitDecision(DecisionLimited)
	orders.RateLimitDecision(DecisionQuotaExceeded)
	orders.AuthFailure("none", "missing")
	orders.AuthFailure("jwt", "invalid")
	orders.AuthFailure("jwt", "invalid")
	m.UnmatchedSizes(0, 90)
	m.JWKSRefreshed("corp", true)
	m.JWKSRefreshed("corp", false)
	up := m.Upstream("users")
	up.Retry("503")
	up.Retry("503")
	up.Retry(FailureConnect)
	m.Upstream("billing").BudgetExhausted()
	tm := m.Target("users", "http://10.0.0.7:8080")
	tm.Failed(FailureConnect)
	tm.Failed(FailureTimeout)
	tm.Failed(FailureFunction)
	tm.ObserveDuration(20 * time.Millisecond)
	tm.Ejected()
	tm.HealthCheck(false)
	tm.HealthCheck(true)
	m.TLSHandshakeFailed(ListenerClient)
	m.ExternalAuthChecked("authz", "cached")

	got, _ := scrape(t, m)
	tests := []struct{ series, want string }{
		{`gantry_build_info{go_version="` + runtime.Version() + `",version="v1.4.0"}`, "1"},
		{`gantry_request_size_bytes_sum{route="orders"}`, "300"},
		{`gantry_request_size_bytes_count{route="orders"}`, "1"},
		{`gantry_response_size_bytes_sum{route="orders"}`, "5000"},
		{`gantry_response_size_bytes_bucket{route="orders",le="2048"}`, "0"},
		{`gantry_response_size_bytes_bucket{route="orders",le="16384"}`, "1"},
		{`gantry_response_size_bytes_sum{route="(none)"}`, "90"},
		{`gantry_ratelimit_decisions_total{decision="allowed",route="orders"}`, "2"},
		{`gantry_ratelimit_decisions_total{decision="limited",route="orders"}`, "1"},
		{`gantry_ratelimit_decisions_total{decision="quota_exceeded",route="orders"}`, "1"},
		{`gantry_auth_failures_total{method="none",reason="missing",route="orders"}`, "1"},
		{`gantry_auth_failures_total{method="jwt",reason="invalid",route="orders"}`, "2"},
		{`gantry_jwks_refresh_total{provider="corp",result="success"}`, "1"},
		{`gantry_jwks_refresh_total{provider="corp",result="failure"}`, "1"},
		{`gantry_upstream_retries_total{reason="503",upstream="users"}`, "2"},
		{`gantry_upstream_retries_total{reason="connect_error",upstream="users"}`, "1"},
		{`gantry_upstream_retry_budget_exhausted_total{upstream="users"}`, "0"},
		{`gantry_upstream_retry_budget_exhausted_total{upstream="billing"}`, "1"},
		{`gantry_upstream_requests_total{status="connect_error",target="http://10.0.0.7:8080",upstream="users"}`, "1"},
		{`gantry_upstream_requests_total{status="timeout",target="http://10.0.0.7:8080",upstream="users"}`, "1"},
		{`gantry_upstream_requests_total{status="function_error",target="http://10.0.0.7:8080",upstream="users"}`, "1"},
		{`gantry_upstream_request_duration_seconds_count{target="http://10.0.0.7:8080",upstream="users"}`, "1"},
		{`gantry_upstream_ejections_total{target="http://10.0.0.7:8080",upstream="users"}`, "1"},
		{`gantry_health_checks_total{result="failure",target="http://10.0.0.7:8080",upstream="users"}`, "1"},
		{`gantry_health_checks_total{result="success",target="http://10.0.0.7:8080",upstream="users"}`, "1"},
		{`gantry_tls_handshake_errors_total{listener="client"}`, "1"},
		{`gantry_external_auth_total{result="cached",service="authz"}`, "1"},
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
		if strings.HasPrefix(k, "gantry_build_info{") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d gantry_build_info series, want 1", n)
	}
}

// TestRetainRoutes: a reload that drops a route deletes its series, a
// request still running on the old generation does not bring them back,
// and the route starts from zero if it returns.
func TestRetainRoutes(t *testing.T) {
	m := NewMetrics()
	orders, users := m.Route("orders"), m.Route("users")
	for _, rm := range []*RouteMetrics{orders, users} {
		rm.Observe("GET", 200, time.Millisecond)
		rm.ObserveSizes(1, 2)
		rm.RateLimited()
		rm.RateLimitDecision(DecisionLimited)
		rm.AuthFailure("api_key", "invalid")
	}
	m.GRPC("orders").Observe("0")
	ws := m.WebSocket("orders")
	ws.Opened()
	m.RetainRoutes([]string{"users"})
	ws.Closed(WSRouteRemoved)
	orders.Observe("GET", 200, time.Millisecond)
	orders.ObserveSizes(1, 2)
	orders.RateLimited()
	orders.RateLimitDecision(DecisionAllowed)
	orders.AuthFailure("api_key", "invalid")

	got, _ := scrape(t, m)
	var usersSeen bool
	for k := range got {
		// WebSocket series stay, to count the connections the removal
		// closes.
		if strings.Contains(k, `route="orders"`) && !strings.HasPrefix(k, "gantry_websocket_") {
			t.Errorf("%s exported after orders was removed", k)
		}
		usersSeen = usersSeen || strings.Contains(k, `route="users"`)
	}
	if !usersSeen {
		t.Error("series of users, which stays, are gone")
	}
	if got[`gantry_request_duration_seconds_count{route="(none)"}`] != "0" {
		t.Error("the unmatched series went with the removed routes")
	}
	if v := got[`gantry_websocket_closed_total{reason="route_removed",route="orders"}`]; v != "1" {
		t.Errorf("websocket closes of the removed route = %q, want 1", v)
	}
	if v := got[`gantry_websocket_connections{route="orders"}`]; v != "0" {
		t.Errorf("websocket connections of the removed route = %q, want 0", v)
	}
	m.Route("orders").Observe("GET", 200, time.Millisecond)
	got, _ = scrape(t, m)
	if v := got[`gantry_requests_total{method="GET",route="orders",status="200"}`]; v != "1" {
		t.Errorf("orders back after a reload: requests = %q, want 1", v)
	}
}

func TestRouteHistogramsOff(t *testing.T) {
	m := NewMetrics()
	m.SetRouteHistograms(false)
	for _, name := range []string{"orders", "users"} {
		rm := m.Route(name)
		rm.Observe("GET", 200, time.Millisecond)
		rm.ObserveSizes(10, 20)
	}
	got, _ := scrape(t, m)
	for _, h := range []string{"gantry_request_duration_seconds", "gantry_request_size_bytes", "gantry_response_size_bytes"} {
		if v := got[h+`_count{route="(all)"}`]; v != "2" {
			t.Errorf(`%s_count{route="(all)"} = %q, want 2`, h, v)
		}
		for k := range got {
			if strings.HasPrefix(k, h) && (strings.Contains(k, `route="orders"`) || strings.Contains(k, `route="users"`)) {
				t.Errorf("%s exported with route histograms off", k)
			}
		}
	}
	if v := got[`gantry_requests_total{method="GET",route="users",status="200"}`]; v != "1" {
		t.Errorf("requests of users = %q, want 1 (counters stay per route)", v)
	}
}

func TestAdminListenerCounts(t *testing.T) {
	m := NewMetrics()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := m.AdminListener(inner)
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	a, b := <-accepted, <-accepted
	got, _ := scrape(t, m)
	if v := got[`gantry_connections_open{listener="admin"}`]; v != "2" {
		t.Errorf(`connections_open{listener="admin"} = %q, want 2`, v)
	}
	a.Close()
	a.Close() // a second Close must not count twice
	b.Close()
	got, _ = scrape(t, m)
	if v := got[`gantry_connections_open{listener="admin"}`]; v != "0" {
		t.Errorf(`connections_open{listener="admin"} after close = %q, want 0`, v)
	}
}

// TestOpsHotPathZeroAllocs: the per-request and per-attempt calls do not
// allocate once their series exist.
func TestOpsHotPathZeroAllocs(t *testing.T) {
	m := NewMetrics()
	rm := m.Route("orders")
	tm := m.Target("users", "http://10.0.0.7:8080")
	up := m.Upstream("users")
	f := func() {
		rm.ObserveSizes(100, 200)
		rm.RateLimitDecision(DecisionAllowed)
		tm.ObserveDuration(time.Millisecond)
		tm.Failed(FailureTimeout)
		up.Retry("503")
	}
	f()
	if n := testing.AllocsPerRun(100, f); n != 0 {
		t.Errorf("hot-path calls allocate %v times, want 0", n)
	}
}
