package telemetry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Backends are the metrics of what the gateway depends on beside its
// upstreams: the usage ledger, the usage export and the counters. They are
// registered on first use, so a gateway without export shows no export
// series.
type Backends struct {
	reg     *prometheus.Registry
	once    sync.Once
	lagOnce sync.Once

	usageFlushes  *prometheus.CounterVec
	usageDropped  prometheus.Counter
	exportEvents  *prometheus.CounterVec
	exportErrors  prometheus.Counter
	countersUp    prometheus.Gauge
	counterErrors prometheus.Counter
	flushErrors   prometheus.Counter
}

// Backends returns the dependency metrics of m.
func (m *Metrics) Backends() *Backends {
	m.backendsOnce.Do(func() {
		b := &Backends{reg: m.reg}
		b.usageFlushes = counterVec("gantry_usage_flushes_total",
			"Usage flushes to storage, by result (ok or error).",
			"result")
		b.usageDropped = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_usage_dropped_total",
			Help: "Usage buckets dropped because storage stayed unreachable and the pending limit was reached.",
		})
		b.exportEvents = counterVec("gantry_usage_export_events_total",
			"Usage events handled by the export, by result (sent, dropped, rejected).",
			"result")
		b.exportErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_usage_export_failures_total",
			Help: "Failed deliveries to the usage export URL (each is retried).",
		})
		b.countersUp = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_counters_up",
			Help: "Whether the shared rate-limit counters (Redis) are reachable (1) or the on_failure fallback applies (0).",
		})
		b.counterErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_counters_errors_total",
			Help: "Failed calls to the shared rate-limit counters.",
		})
		b.flushErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_usage_flush_errors_total",
			Help: "Usage flushes to storage that failed (the counts stay in memory and the next flush retries).",
		})
		b.countersUp.Set(1)
		m.reg.MustRegister(b.usageFlushes, b.usageDropped, b.exportEvents, b.exportErrors, b.countersUp, b.counterErrors, b.flushErrors)
		m.backends = b
	})
	return m.backends
}

// UsageFlushed counts one flush of the usage meter.
func (b *Backends) UsageFlushed(ok bool) {
	if ok {
		b.usageFlushes.WithLabelValues("ok").Inc()
	} else {
		b.usageFlushes.WithLabelValues("error").Inc()
		b.flushErrors.Inc()
	}
}

// UsageFlushLag exports f, the meter's flush lag in seconds, as
// gantry_usage_flush_lag_seconds.
func (b *Backends) UsageFlushLag(f func() float64) {
	b.lagOnce.Do(func() {
		b.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gantry_usage_flush_lag_seconds",
			Help: "Seconds since the start of the last usage flush that wrote everything to storage: under usage.flush_interval while storage keeps up, growing while it fails.",
		}, f))
	})
}

// UsageDropped counts n dropped usage buckets.
func (b *Backends) UsageDropped(n int64) { b.usageDropped.Add(float64(n)) }

// UsagePending exports the meter's pending bucket count.
func (b *Backends) UsagePending(f func() float64) {
	b.once.Do(func() {
		b.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gantry_usage_pending_buckets",
			Help: "Usage buckets held in memory, not yet final in storage.",
		}, f))
	})
}

// Exported counts n export events with result sent, dropped or rejected.
func (b *Backends) Exported(result string, n int) {
	b.exportEvents.WithLabelValues(result).Add(float64(n))
}

// ExportFailed counts one failed delivery.
func (b *Backends) ExportFailed() { b.exportErrors.Inc() }

// CountersUp records whether the shared counters are reachable.
func (b *Backends) CountersUp(up bool) {
	if up {
		b.countersUp.Set(1)
	} else {
		b.countersUp.Set(0)
	}
}

// CounterError counts one failed counters call.
func (b *Backends) CounterError() { b.counterErrors.Inc() }
