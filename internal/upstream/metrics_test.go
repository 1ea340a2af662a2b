package upstream

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// series returns every sample line of m's exposition whose series starts
// with prefix, as series -> value.
func series(t *testing.T, m *telemetry.Metrics, prefix string) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]string{}
	for l := range strings.SplitSeq(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, prefix) {
			i := strings.LastIndexByte(l, ' ')
			out[l[:i]] = l[i+1:]
		}
	}
	return out
}

// metricsPool is newAttemptsPool on a State that reports to m.
func metricsPool(t *testing.T, m *telemetry.Metrics, n int, tokens int64) *Pool {
	t.Helper()
	weights := make([]int, n)
	for i := range weights {
		weights[i] = 1
	}
	p := newPoolOn(t, NewState(StateOptions{Metrics: m}), &config.Upstream{Passive: &config.Passive{Failures: 1, EjectFor: config.Duration(time.Hour)}}, weights...)
	now := time.Unix(1_800_000_000, 0)
	p.budget = newRetryBudget(func() time.Time { return now })
	p.budget.balance.Store(tokens * token)
	return p
}

// TestAttemptsMetrics: each retry is counted with what the attempt before
// it got (a status, or the cause of no answer), a retry the budget refuses
// is counted as such, every attempt has its duration, and an attempt
// without an answer is labelled by its cause, not "0".
func TestAttemptsMetrics(t *testing.T) {
	m := telemetry.NewMetrics()
	p := metricsPool(t, m, 3, 1)
	at, err := p.Attempts(nil)
	if err != nil {
		t.Fatal(err)
	}
	at.AllowRetries(2)
	first := at.Begin()
	at.Failed(CauseConnect)
	at.Done(0, Failure)
	if at.Next() == nil {
		t.Fatal("Next() = nil, want a second target (one token)")
	}
	second := at.Begin()
	at.Answered()
	at.Done(503, Failure)
	if at.Next() != nil {
		t.Fatal("Next() = a target with the budget spent, want nil")
	}

	got := series(t, m, "gantry_upstream_")
	want := map[string]string{
		`gantry_upstream_retries_total{reason="connect_error",upstream="users"}`:                              "1",
		`gantry_upstream_retry_budget_exhausted_total{upstream="users"}`:                                      "1",
		`gantry_upstream_requests_total{status="connect_error",target="` + first.Name + `",upstream="users"}`: "1",
		`gantry_upstream_requests_total{status="503",target="` + second.Name + `",upstream="users"}`:          "1",
		`gantry_upstream_request_duration_seconds_count{target="` + first.Name + `",upstream="users"}`:        "1",
		`gantry_upstream_request_duration_seconds_count{target="` + second.Name + `",upstream="users"}`:       "1",
		`gantry_upstream_ejections_total{target="` + first.Name + `",upstream="users"}`:                       "1",
		`gantry_upstream_ejections_total{target="` + second.Name + `",upstream="users"}`:                      "1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if strings.Contains(k, `status="0"`) {
			t.Errorf("%s: an attempt without an answer labelled 0", k)
		}
	}

	// A retry after a 503 is labelled with it.
	m = telemetry.NewMetrics()
	p = metricsPool(t, m, 2, 2)
	at, err = p.Attempts(nil)
	if err != nil {
		t.Fatal(err)
	}
	at.AllowRetries(1)
	at.Begin()
	at.Done(503, Failure)
	if at.Next() == nil {
		t.Fatal("Next() = nil after a 503, want the other target")
	}
	at.Begin()
	at.Done(200, Success)
	if v := series(t, m, "gantry_upstream_retries_total")[`gantry_upstream_retries_total{reason="503",upstream="users"}`]; v != "1" {
		t.Errorf(`retries{reason="503"} = %q, want 1`, v)
	}
}

// TestAttemptsMetricsZeroAllocs: once a target has been seen, an attempt
// with metrics attached still allocates nothing.
func TestAttemptsMetricsZeroAllocs(t *testing.T) {
	m := telemetry.NewMetrics()
	p := metricsPool(t, m, 1, 0)
	run := func() {
		at, err := p.Attempts(nil)
		if err != nil {
			t.Fatal(err)
		}
		at.Begin()
		at.Answered()
		at.Done(200, Success)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("an attempt allocates %v times, want 0", n)
	}
}

// TestRecordProbeCounts: every active probe counts in
// gantry_health_checks_total by result.
func TestRecordProbeCounts(t *testing.T) {
	m := telemetry.NewMetrics()
	p := newPoolOn(t, NewState(StateOptions{Metrics: m}), &config.Upstream{HealthCheck: &config.HealthCheck{Path: "/healthz", UnhealthyAfter: 2}}, 1)
	tg := p.Targets()[0]
	tg.RecordProbe(false)
	tg.RecordProbe(false)
	tg.RecordProbe(true)
	got := series(t, m, "gantry_health_checks_total")
	for k, v := range map[string]string{
		`gantry_health_checks_total{result="failure",target="` + tg.Name + `",upstream="users"}`: "2",
		`gantry_health_checks_total{result="success",target="` + tg.Name + `",upstream="users"}`: "1",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
