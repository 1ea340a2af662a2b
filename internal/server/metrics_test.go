package server

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestRouteHistograms: telemetry.metrics.route_histograms: false folds the
// route's histograms into route="(all)" from the start, and a reload that
// changes the setting says a restart is required.
func TestRouteHistograms(t *testing.T) {
	up := httptest.NewServer(nil)
	t.Cleanup(up.Close)
	on := gatewayConfig(up.URL, catchAll)
	off := on + "telemetry:\n  metrics: {route_histograms: false}\n"

	s := newServer(t, off)
	serve(s, httptest.NewRequest("GET", "/x", nil))
	rec := httptest.NewRecorder()
	s.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if !strings.Contains(body, `gantry_request_duration_seconds_count{route="(all)"} 1`) {
		t.Errorf("no route=\"(all)\" duration histogram with route_histograms off:\n%s", body)
	}
	if strings.Contains(body, `gantry_request_duration_seconds_count{route="app"}`) {
		t.Error("a per-route duration histogram with route_histograms off")
	}
	if !strings.Contains(body, `gantry_requests_total{method="GET",route="app",status="404"} 1`) {
		t.Error("the request counter is not per route")
	}

	if got := s.staticChanges(parseConfig(t, on)); !slices.Equal(got, []string{"telemetry.metrics"}) {
		t.Errorf("staticChanges(route_histograms back on) = %q, want [telemetry]", got)
	}
	if got := s.staticChanges(parseConfig(t, off)); len(got) != 0 {
		t.Errorf("staticChanges(same config) = %q, want none", got)
	}
}
