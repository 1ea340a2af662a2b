// Package upstream holds the pools of targets a route forwards to and chooses
// one target per attempt.
//
// On the request path it is the step after the terminal: proxy (or
// aggregate) calls Pool.Pick, then sends the request to the chosen Target:
//
//	server → router → route chain → terminal (proxy) → upstream.Pool.Pick → upstream
//
// On the control path, server compiles one Pool per configured upstream for
// every config generation (NewPool).
//
// A Pool knows its targets and a Picker (the balancer); it does no I/O, opens
// no connections and never writes a response: connection pools and transports
// belong to package proxy. Pick must stay allocation-free and safe for
// concurrent use, since it runs once per attempt.
//
// Health state (Target.Healthy) is kept on the Target so that balancers skip
// unhealthy targets; active health checks, passive ejection and the other
// balancers (least_conn, p2c_ewma, hash) come later and plug in through
// Picker.
package upstream
