package telemetry

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ttftBuckets are the bounds, in seconds, of the time to first token
// histogram: from 10 ms (a cached answer) to 30 s (a long prompt on a
// busy model).
var ttftBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// llmMetrics are the metrics of routes with llm.
type llmMetrics struct {
	tokens   *prometheus.CounterVec
	requests *prometheus.CounterVec
	ttft     *prometheus.HistogramVec
}

func (m *Metrics) registerLLM() {
	l := &m.llm
	l.tokens = counterVec("gantry_llm_tokens_total",
		"LLM tokens upstreams reported for admitted requests of routes with llm, by route, model and kind (input, output, and cached: the input tokens read from the provider's prompt cache, also counted as input).",
		"route", "model", "kind")
	l.requests = counterVec("gantry_llm_requests_total",
		"Requests of routes with llm whose body the gateway read and found a model in, by route, model and the status sent to the client.",
		"route", "model", "status")
	l.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_llm_time_to_first_token_seconds",
		Help:    "Time from receiving a request of a route with llm to relaying the first byte of its successful answer's body (for a stream, its first event), by model.",
		Buckets: ttftBuckets,
	}, []string{"model"})
	m.reg.MustRegister(l.tokens, l.requests, l.ttft)
}

// LLM records one finished request of a route with llm: its model (as
// metered: listed, priced or "other", never a client's free choice), the
// status sent to the client, the tokens its answer reported (counted when
// admitted) and, for a 2xx answer whose body started, the time to its
// first byte (0: none). A nil handle records nothing.
func (rm *RouteMetrics) LLM(model string, status int, admitted bool, input, output, cached int64, firstByte time.Duration) {
	if rm == nil || rm.gone.Load() {
		return
	}
	l := &rm.m.llm
	l.requests.WithLabelValues(rm.name, model, strconv.Itoa(status)).Inc()
	if admitted {
		for _, k := range [...]struct {
			kind string
			n    int64
		}{{"input", input}, {"output", output}, {"cached", cached}} {
			if k.n > 0 {
				l.tokens.WithLabelValues(rm.name, model, k.kind).Add(float64(k.n))
			}
		}
	}
	if firstByte > 0 && status >= 200 && status < 300 {
		l.ttft.WithLabelValues(model).Observe(firstByte.Seconds())
	}
}

// deleteLLM removes the route's LLM series.
func (rm *RouteMetrics) deleteLLM() {
	l := &rm.m.llm
	l.tokens.DeletePartialMatch(prometheus.Labels{"route": rm.name})
	l.requests.DeletePartialMatch(prometheus.Labels{"route": rm.name})
}
