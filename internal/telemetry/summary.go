package telemetry

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Summary is a digest of the gateway's request metrics at one moment, for
// the dashboard: cumulative counts since the process started, from which a
// reader computes rates, error ratios and percentiles over the interval
// between two summaries (as Prometheus's rate() and histogram_quantile()
// do between two scrapes).
type Summary struct {
	// At is when the registry was read.
	At time.Time `json:"at"`
	// Requests, ClientErrors (4xx), Errors (5xx) and RateLimited count
	// every answered request, matched by a route or not.
	Requests     uint64 `json:"requests"`
	ClientErrors uint64 `json:"client_errors"`
	Errors       uint64 `json:"errors"`
	RateLimited  uint64 `json:"rate_limited"`
	// InFlight is the number of requests being served now.
	InFlight int64 `json:"in_flight"`
	// Duration is gantry_request_duration_seconds summed over every route.
	Duration Histogram `json:"duration"`
	// Routes are the per-route counts, sorted by name; "(none)" holds
	// requests that matched no route.
	Routes []RouteSummary `json:"routes"`
	// Targets are the upstream targets that were sent attempts, probed or
	// ejected, sorted by upstream and target.
	Targets []TargetSummary `json:"targets"`
}

// TargetSummary is one upstream target's attempts, from
// gantry_upstream_requests_total, gantry_upstream_ejections_total and
// gantry_upstream_request_duration_seconds.
type TargetSummary struct {
	Upstream string `json:"upstream"`
	Target   string `json:"target"`
	// Attempts counts the attempts sent; Failures those answered 5xx or
	// not at all (connect error, timeout, other errors).
	Attempts uint64 `json:"attempts"`
	Failures uint64 `json:"failures"`
	// Ejections counts passive ejections.
	Ejections uint64 `json:"ejections"`
	// Duration is the attempts' duration, in seconds.
	Duration Histogram `json:"duration"`
}

// RouteSummary is one route's share of a Summary.
type RouteSummary struct {
	Route        string `json:"route"`
	Requests     uint64 `json:"requests"`
	ClientErrors uint64 `json:"client_errors"`
	Errors       uint64 `json:"errors"`
	RateLimited  uint64 `json:"rate_limited"`
	// Duration is absent when telemetry.metrics.route_histograms is
	// false: the routes then share one histogram, labelled "(all)".
	Duration *Histogram `json:"duration,omitempty"`
}

// Histogram is a cumulative latency histogram in seconds.
type Histogram struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum"`
	// Buckets are the finite upper bounds in increasing order, each with
	// the count of observations at or below it; Count is the +Inf bucket.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one histogram bucket.
type Bucket struct {
	LE    float64 `json:"le"`
	Count uint64  `json:"count"`
}

// Summarize reads g (the registry of Metrics, see Registry) and digests its
// gantry_requests_total, gantry_rate_limited_total,
// gantry_request_duration_seconds and gantry_requests_in_flight series.
// Safe for concurrent use as far as g is.
func Summarize(g prometheus.Gatherer) (Summary, error) {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return Summary{}, fmt.Errorf("gathering metrics: %w", err)
	}
	s := Summary{At: time.Now().UTC()}
	routes := map[string]*RouteSummary{}
	route := func(name string) *RouteSummary {
		r, ok := routes[name]
		if !ok {
			r = &RouteSummary{Route: name}
			routes[name] = r
		}
		return r
	}
	targets := map[[2]string]*TargetSummary{}
	target := func(m *dto.Metric) *TargetSummary {
		k := [2]string{label(m, "upstream"), label(m, "target")}
		ts, ok := targets[k]
		if !ok {
			ts = &TargetSummary{Upstream: k[0], Target: k[1], Duration: Histogram{Buckets: []Bucket{}}}
			targets[k] = ts
		}
		return ts
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "gantry_upstream_requests_total":
			for _, m := range mf.GetMetric() {
				n := counterValue(m)
				ts := target(m)
				ts.Attempts += n
				// A status, or the cause of no answer (connect_error, timeout, ...).
				if st := label(m, "status"); len(st) != 3 || st[0] == '5' || st[0] < '1' || st[0] > '9' {
					ts.Failures += n
				}
			}
		case "gantry_upstream_ejections_total":
			for _, m := range mf.GetMetric() {
				target(m).Ejections += counterValue(m)
			}
		case "gantry_upstream_request_duration_seconds":
			for _, m := range mf.GetMetric() {
				target(m).Duration.add(histogramOf(m.GetHistogram()))
			}
		case "gantry_requests_total":
			for _, m := range mf.GetMetric() {
				n := counterValue(m)
				r := route(label(m, "route"))
				r.Requests += n
				s.Requests += n
				switch st := label(m, "status"); {
				case len(st) == 3 && st[0] == '4':
					r.ClientErrors += n
					s.ClientErrors += n
				case len(st) == 3 && st[0] == '5':
					r.Errors += n
					s.Errors += n
				}
			}
		case "gantry_rate_limited_total":
			for _, m := range mf.GetMetric() {
				n := counterValue(m)
				route(label(m, "route")).RateLimited += n
				s.RateLimited += n
			}
		case "gantry_requests_in_flight":
			for _, m := range mf.GetMetric() {
				s.InFlight += int64(m.GetGauge().GetValue())
			}
		case "gantry_request_duration_seconds":
			for _, m := range mf.GetMetric() {
				h := histogramOf(m.GetHistogram())
				s.Duration.add(h)
				if name := label(m, "route"); name != AllRoutes {
					route(name).Duration = &h
				}
			}
		}
	}
	for _, r := range routes {
		s.Routes = append(s.Routes, *r)
	}
	sort.Slice(s.Routes, func(i, j int) bool { return s.Routes[i].Route < s.Routes[j].Route })
	if s.Routes == nil {
		s.Routes = []RouteSummary{}
	}
	for _, ts := range targets {
		s.Targets = append(s.Targets, *ts)
	}
	sort.Slice(s.Targets, func(i, j int) bool {
		a, b := s.Targets[i], s.Targets[j]
		return a.Upstream < b.Upstream || a.Upstream == b.Upstream && a.Target < b.Target
	})
	if s.Targets == nil {
		s.Targets = []TargetSummary{}
	}
	if s.Duration.Buckets == nil {
		s.Duration.Buckets = []Bucket{}
	}
	return s, nil
}

func counterValue(m *dto.Metric) uint64 {
	v := m.GetCounter().GetValue()
	if v < 0 || math.IsNaN(v) {
		return 0
	}
	return uint64(v)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func histogramOf(h *dto.Histogram) Histogram {
	out := Histogram{Count: h.GetSampleCount(), Sum: h.GetSampleSum(), Buckets: []Bucket{}}
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		out.Buckets = append(out.Buckets, Bucket{LE: b.GetUpperBound(), Count: b.GetCumulativeCount()})
	}
	return out
}

// add sums o into h; buckets are matched by bound (every route's histogram
// has the same bounds).
func (h *Histogram) add(o Histogram) {
	h.Count += o.Count
	h.Sum += o.Sum
	for _, b := range o.Buckets {
		i := sort.Search(len(h.Buckets), func(i int) bool { return h.Buckets[i].LE >= b.LE })
		if i < len(h.Buckets) && h.Buckets[i].LE == b.LE {
			h.Buckets[i].Count += b.Count
			continue
		}
		h.Buckets = append(h.Buckets, Bucket{})
		copy(h.Buckets[i+1:], h.Buckets[i:])
		h.Buckets[i] = b
	}
}
