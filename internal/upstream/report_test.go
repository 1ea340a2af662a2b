package upstream

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// TestReportCanceledCountsNothing: an attempt the client ended (gone, or
// its body failed) moves neither passive ejection nor, without an answer,
// gantry_upstream_requests_total.
func TestReportCanceledCountsNothing(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		o       Outcome
		series  string // the gantry_upstream_requests_total status label counted, "" none
		ejected bool
	}{
		{"canceled without an answer", 0, Canceled, "", false},
		{"canceled after an answer", 200, Canceled, `status="200"`, false},
		{"failure without an answer", 0, Failure, `status="error"`, true},
		{"5xx answer", 502, Failure, `status="502"`, true},
		{"success", 200, Success, `status="200"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := telemetry.NewMetrics()
			up := &config.Upstream{Passive: &config.Passive{Failures: 1, EjectFor: config.Duration(time.Hour)},
				Targets: []*config.Target{{URL: "http://192.0.2.1:8080"}}}
			p, err := NewPool("users", up, NewState(StateOptions{Metrics: m}))
			if err != nil {
				t.Fatal(err)
			}
			tg := p.Targets()[0]
			tg.Report(time.Millisecond, tt.status, tt.o)
			if got := tg.Status().State == "ejected"; got != tt.ejected {
				t.Errorf("ejected = %v, want %v", got, tt.ejected)
			}
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			var counted []string
			for l := range strings.SplitSeq(rec.Body.String(), "\n") {
				if strings.HasPrefix(l, "gantry_upstream_requests_total{") {
					counted = append(counted, l)
				}
			}
			switch {
			case tt.series == "" && len(counted) > 0:
				t.Errorf("counted %q, want nothing", counted)
			case tt.series != "" && (len(counted) != 1 || !strings.Contains(counted[0], tt.series)):
				t.Errorf("counted %q, want one series with %s", counted, tt.series)
			}
		})
	}
}
