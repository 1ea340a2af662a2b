package telemetry

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name            string
		routeHistograms bool
		wantRouteHist   bool
	}{
		{name: "per-route histograms", routeHistograms: true, wantRouteHist: true},
		{name: "one shared histogram", routeHistograms: false, wantRouteHist: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics()
			m.SetRouteHistograms(tt.routeHistograms)
			orders, users := m.Route("orders"), m.Route("users")
			for range 7 {
				orders.Observe("GET", 200, 3*time.Millisecond)
			}
			orders.Observe("POST", 502, 40*time.Millisecond)
			orders.Observe("GET", 429, 200*time.Microsecond)
			orders.RateLimited()
			users.Observe("GET", 200, 2*time.Second)
			m.Unmatched("GET", 404, time.Millisecond)
			m.RequestStarted()

			s, err := Summarize(m.Registry())
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(s.At) > time.Minute {
				t.Errorf("At = %v, want now", s.At)
			}
			got := struct{ Requests, ClientErrors, Errors, RateLimited, Count uint64 }{s.Requests, s.ClientErrors, s.Errors, s.RateLimited, s.Duration.Count}
			want := struct{ Requests, ClientErrors, Errors, RateLimited, Count uint64 }{11, 2, 1, 1, 11}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("totals mismatch (-want +got):\n%s", diff)
			}
			if s.InFlight != 1 {
				t.Errorf("InFlight = %d, want 1", s.InFlight)
			}
			// Cumulative buckets: 1 at 0.5ms (the 429), 2 at 1ms (the 404),
			// 9 by 5ms, 10 by 50ms, 11 by 2.5s.
			at := map[float64]uint64{}
			for _, b := range s.Duration.Buckets {
				at[b.LE] = b.Count
			}
			for le, n := range map[float64]uint64{.0005: 1, .001: 2, .005: 9, .05: 10, 1: 10, 2.5: 11, 10: 11} {
				if at[le] != n {
					t.Errorf("bucket le=%g = %d, want %d", le, at[le], n)
				}
			}
			var names []string
			for _, r := range s.Routes {
				names = append(names, r.Route)
				// Unmatched requests always have a histogram of their own.
				if (r.Duration != nil) != (tt.wantRouteHist || r.Route == UnmatchedRoute) {
					t.Errorf("route %s Duration = %v, want present: %v", r.Route, r.Duration, tt.wantRouteHist)
				}
			}
			if diff := cmp.Diff([]string{UnmatchedRoute, "orders", "users"}, names); diff != "" {
				t.Errorf("routes mismatch (-want +got):\n%s", diff)
			}
			o := s.Routes[1]
			if o.Requests != 9 || o.Errors != 1 || o.ClientErrors != 1 || o.RateLimited != 1 {
				t.Errorf("orders = %+v, want 9 requests, 1 error, 1 client error, 1 rate limited", o)
			}
			if tt.wantRouteHist && (o.Duration.Count != 9 || o.Duration.Buckets[len(o.Duration.Buckets)-1].Count != 9) {
				t.Errorf("orders duration = %+v, want 9 observations", o.Duration)
			}
		})
	}
}

func TestSummarizeTargets(t *testing.T) {
	m := NewMetrics()
	a, b := m.Target("orders", "http://10.0.0.11:8080"), m.Target("orders", "http://10.0.0.12:8080")
	for range 4 {
		a.Observe(200)
		a.ObserveDuration(2 * time.Millisecond)
	}
	a.Observe(503)
	b.Failed(FailureConnect)
	b.Failed(FailureTimeout)
	b.Observe(404)
	b.Ejected()
	b.ObserveDuration(time.Second)
	m.Target("billing", "http://10.0.0.20:8080").Ejected()

	s, err := Summarize(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Upstream, Target                        string
		Attempts, Failures, Ejections, Observed uint64
	}
	var got []row
	for _, ts := range s.Targets {
		got = append(got, row{ts.Upstream, ts.Target, ts.Attempts, ts.Failures, ts.Ejections, ts.Duration.Count})
	}
	want := []row{
		{"billing", "http://10.0.0.20:8080", 0, 0, 1, 0},
		{"orders", "http://10.0.0.11:8080", 5, 1, 0, 4},
		{"orders", "http://10.0.0.12:8080", 3, 2, 1, 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets mismatch (-want +got):\n%s", diff)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s, err := Summarize(NewMetrics().Registry())
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 0 || s.Duration.Count != 0 || s.Routes == nil || s.Duration.Buckets == nil || s.Targets == nil {
		t.Errorf("Summarize() of a fresh registry = %+v, want zero counts and empty lists", s)
	}
}
