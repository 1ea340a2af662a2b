package telemetry

import "github.com/prometheus/client_golang/prometheus"

// CacheResults are the values of gantry_cache_requests_total's result
// label (package cache's results).
var CacheResults = []string{"hit", "miss", "stale", "revalidated", "bypass"}

// cacheRequests returns gantry_cache_requests_total, registered on first
// use so a gateway without a cached route shows no cache series.
func (m *Metrics) cacheRequests() *prometheus.CounterVec {
	m.cacheOnce.Do(func() {
		m.cache = counterVec("gantry_cache_requests_total",
			"Requests of routes with a response cache, by route and result (hit, miss, stale, revalidated, bypass).",
			"route", "result")
		m.reg.MustRegister(m.cache)
	})
	return m.cache
}

// CacheCounter returns the counter of one route's cache result, to be
// cached by the caller: Inc on it does not allocate.
func (m *Metrics) CacheCounter(route, result string) prometheus.Counter {
	return m.cacheRequests().WithLabelValues(route, result)
}

// CacheStore exports the memory store's size: gantry_cache_bytes and
// gantry_cache_entries, read from bytes and entries at each scrape.
func (m *Metrics) CacheStore(bytes, entries func() float64) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gantry_cache_bytes",
			Help: "Bytes held by the response cache's memory store (entries' status, headers and bodies).",
		}, bytes),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gantry_cache_entries",
			Help: "Entries held by the response cache's memory store (vary records included).",
		}, entries),
	)
}

// deleteCacheSeries removes the cache series of a route a reload dropped.
func (m *Metrics) deleteCacheSeries(route string) {
	vec := m.cacheRequests()
	for _, r := range CacheResults {
		vec.DeleteLabelValues(route, r)
	}
}
