// Package telemetry gives the gateway its Prometheus metrics, its structured
// access log, its process logger and its OpenTelemetry tracing.
//
// It sits at the end of the request path: once an Exchange is finished, the
// server hands it to a route's RouteMetrics.Observe and to AccessLog.Log. On
// the control path, the server asks Metrics.Route for a handle per route when
// a config generation is compiled (handles are cached by route name, so a
// reload reuses them) and reports reloads and the generation number; health
// checkers report target health through SetUpstreamHealthy.
//
// The request-path calls are budgeted: Observe costs well under a microsecond
// and allocates nothing once a route has seen a (method, status) pair, and
// Log encodes into a pooled buffer and hands it to a background writer
// without ever blocking (a full queue drops the line and counts it).
//
// Cardinality is bounded on purpose: methods outside the standard set are
// labelled "OTHER" and statuses outside 100-599 "0"; an upstream attempt
// without an answer is labelled by its cause (connect_error, timeout,
// error), never by a message. Requests that match no route are labelled
// route="(none)". A route's series appear with its first request and are
// deleted when a reload removes the route (RetainRoutes); per-route
// histograms can be folded into one (SetRouteHistograms). Series of an
// upstream target removed by a reload keep their counters; its health
// gauge goes.
//
// ops.go holds the metrics operators alert on beyond the contract's four
// (docs/metrics.md lists every metric with an example alert).
//
// The access log never writes the query string (it may carry an API key) nor
// any header value other than User-Agent.
//
// Tracing (tracing.go) is a tracer provider exporting over OTLP from the
// SDK's batch processor goroutine; the request path only makes spans
// (Tracing.StartServer, Child) and writes trace context upstream (Inject).
// A nil *Tracing is tracing off, and Child and Inject then do one context
// lookup and allocate nothing.
//
// Summarize (summary.go) digests the request metrics of the registry into
// cumulative totals and one latency histogram, for the operator dashboard,
// which computes rates and percentiles from two of them.
//
// This package must not import server, router or proxy: they import it.
package telemetry
