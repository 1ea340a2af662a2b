package telemetry

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBackendsMetrics(t *testing.T) {
	m := NewMetrics()
	b := m.Backends()
	if m.Backends() != b {
		t.Fatal("Backends is not a singleton")
	}
	b.UsageFlushed(true)
	b.UsageFlushed(false)
	b.UsageFlushed(false)
	b.UsageDropped(3)
	b.UsagePending(func() float64 { return 7 })
	b.UsagePending(func() float64 { return 9 }) // registered once
	b.Exported("sent", 5)
	b.ExportFailed()
	b.CountersUp(false)
	b.CounterError()

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`gantry_usage_flushes_total{result="ok"} 1`,
		`gantry_usage_flushes_total{result="error"} 2`,
		`gantry_usage_dropped_total 3`,
		`gantry_usage_pending_buckets 7`,
		`gantry_usage_export_events_total{result="sent"} 5`,
		`gantry_usage_export_failures_total 1`,
		`gantry_counters_up 0`,
		`gantry_counters_errors_total 1`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}
