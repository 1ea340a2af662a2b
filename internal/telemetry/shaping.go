package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Values of gantry_mirror_requests_total's result label.
const (
	// MirrorSent: the copy was sent and answered (any status); the
	// answer was discarded.
	MirrorSent = "sent"
	// MirrorDropped: the mirror's queue was full.
	MirrorDropped = "dropped"
	// MirrorFailed: the copy got no answer (connect error, timeout, no
	// healthy target).
	MirrorFailed = "failed"
	// MirrorSkipped: the request was sampled but cannot be copied: its
	// body is of unknown length or over the mirror's limit, or it is a
	// protocol upgrade.
	MirrorSkipped = "skipped"
)

var mirrorResults = [...]string{MirrorSent, MirrorDropped, MirrorFailed, MirrorSkipped}

// Values of gantry_transform_bodies_total's result label.
const (
	// TransformApplied: the JSON body was transformed.
	TransformApplied = "transformed"
	// TransformTooLarge: the body was over transform.max_body_bytes and
	// passed unchanged.
	TransformTooLarge = "too_large"
	// TransformEncoded: the body had a Content-Encoding (compressed) and
	// passed unchanged.
	TransformEncoded = "encoded"
	// TransformStreamed: the body was of unknown length (streamed) and
	// passed unchanged.
	TransformStreamed = "streamed"
	// TransformInvalid: the body was not valid JSON and passed unchanged.
	TransformInvalid = "invalid"
)

var (
	transformResults    = [...]string{TransformApplied, TransformTooLarge, TransformEncoded, TransformStreamed, TransformInvalid}
	transformDirections = [...]string{"request", "response"}
)

// shaping are the metrics of traffic splits, mirrors and body
// transforms; see docs/metrics.md.
type shaping struct {
	split     *prometheus.CounterVec
	mirror    *prometheus.CounterVec
	transform *prometheus.CounterVec
}

func (m *Metrics) registerShaping() {
	s := &m.shaping
	s.split = counterVec("gantry_split_requests_total",
		"Requests of routes with a split, by the upstream (side) chosen to serve them.",
		"route", "upstream")
	s.mirror = counterVec("gantry_mirror_requests_total",
		"Sampled requests of routes with a mirror, by what became of their copy (sent, dropped, failed, skipped).",
		"route", "result")
	s.transform = counterVec("gantry_transform_bodies_total",
		"JSON bodies a route's transform applied to, by direction (request, response) and result (transformed, or why it passed unchanged: too_large, encoded, streamed, invalid).",
		"route", "direction", "result")
	m.reg.MustRegister(s.split, s.mirror, s.transform)
}

// SplitServed counts one request of the route's split served by upstream.
// A nil handle records nothing.
func (rm *RouteMetrics) SplitServed(upstream string) {
	if rm == nil || rm.gone.Load() {
		return
	}
	rm.m.shaping.split.WithLabelValues(rm.name, upstream).Inc()
}

// Mirrored counts one sampled request of the route's mirror by result
// (Mirror*). A nil handle records nothing.
func (rm *RouteMetrics) Mirrored(result string) {
	if rm == nil || rm.gone.Load() {
		return
	}
	rm.m.shaping.mirror.WithLabelValues(rm.name, result).Inc()
}

// Transformed counts one JSON body of the route's transform, by direction
// ("request" or "response") and result (Transform*). A nil handle
// records nothing.
func (rm *RouteMetrics) Transformed(direction, result string) {
	if rm == nil || rm.gone.Load() {
		return
	}
	rm.m.shaping.transform.WithLabelValues(rm.name, direction, result).Inc()
}

// deleteShapingSeries removes the route's shaping series.
func (rm *RouteMetrics) deleteShapingSeries() {
	s, name := &rm.m.shaping, rm.name
	s.split.DeletePartialMatch(prometheus.Labels{"route": name})
	for _, r := range mirrorResults {
		s.mirror.DeleteLabelValues(name, r)
	}
	for _, d := range transformDirections {
		for _, r := range transformResults {
			s.transform.DeleteLabelValues(name, d, r)
		}
	}
}
