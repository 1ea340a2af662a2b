// Package aggregate is the terminal handler of routes with an aggregate
// section: one client request, several upstream calls, one merged JSON
// answer.
//
// On the request path it takes the proxy's place at the end of a route
// chain:
//
//	server → router → route chain → terminal (aggregate) → upstream.Pool.Pick → upstream
//
// Calls form a dependency graph read from their templates (see template.go):
// a call whose path, headers or body use {other.field} runs once other has
// answered; calls that use nothing of each other run concurrently. A call
// starts as soon as everything it needs has arrived, not in levels. A
// placeholder with "*" ({orders.*.product_id}) fans the call out, one
// request per array element, FanOutConcurrency at a time, answers kept in
// element order. Goroutines are bounded by the configuration: one per
// running call, FanOutConcurrency per running fan-out, and every one has
// ended when ServeHTTP returns. When no call uses another's answer, the
// request's own goroutine writes the requests of the calls that go
// through the gateway's HTTP/1.1 client, then reads their answers in
// order (batch.go); a late answer hands the ones after it to workers, so
// a failure is never held up behind it.
//
// Every request goes through the upstream's pool as proxied requests do,
// by the same attempt loop, upstream.Attempts: the first pick (balancer,
// health), Begin/Done with the outcome by upstream.Classify (in-flight,
// latency, passive ejection, per-target metrics), the shared transports of
// package proxy with the upstream's timeouts, and retries on another target
// (Attempts.Next) for idempotent methods, and for others only when nothing
// of the call was written (forward.NotSent), within the upstream's retries
// and retry budget. Calls
// carry X-Request-ID, X-Consumer-ID, X-Consumer-Groups, X-Forwarded-* and
// X-Real-IP as the proxy sets them; the client's own headers are not
// forwarded. An answer must be 2xx JSON (application/json or +json) of at
// most Deps.MaxResponseBytes; it is decoded with a streaming decoder that
// keeps numbers as written. Answers nothing reads into (no select, rename,
// flatten, and no call uses them) are checked and copied, not decoded.
//
// Failure: an optional call that fails or runs out of time is left out of
// the answer with the calls that need it, listed in X-Gantry-Partial and
// Exchange.Partial, and the status stays 200. A required call that fails
// cancels the rest and the handler returns 502 aggregate_failed naming the
// call (504 when a time limit ended it). The aggregate's timeout bounds
// everything.
//
// On the control path, server builds one handler per route per config
// generation (New), which also runs Check so `gantry validate` reports
// template errors, unknown references and cycles with their key paths. A
// handler holds no goroutines; its answer cache (calls with cache: ttl)
// lives and dies with it. The package never writes an error body: it
// returns *pipeline.HTTPError for package server to render.
package aggregate
