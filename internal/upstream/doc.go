// Package upstream holds the pools of targets a route forwards to, chooses
// one target per attempt, and keeps what is known about every target.
//
// On the request path it is the step after the terminal: proxy and
// aggregate run their attempts through Attempts (Pool.Attempts), the one
// attempt loop of the gateway. It picks the first target (Pool.Pick),
// keeps the tried targets, credits and spends the upstream's retry budget,
// bounds the retries by the upstream's retries and MaxRetries, and reports
// each attempt to its target (Target.Begin, Report, Done) with the outcome
// Classify decides. Which failures may be retried at all (method, body,
// error) is the terminal's call, by package forward's rules:
//
//	server → router → route chain → terminal (proxy | aggregate)
//	       → upstream.Attempts (Pool.Pick, then Next per retry) → upstream
//
// On the control path, server plans one Pool per configured upstream for
// every config generation (NewPool) and calls Pool.Start when the generation
// is put in force; package health runs the active checks.
//
// Runtime state (active health verdict, passive ejection, in-flight count,
// peak-EWMA latency) lives in State, keyed by upstream name and target
// name, which the server keeps for the life of the process: a reload builds
// new Pools and Targets but they find the same state. Each upstream's retry
// budget lives there too, keyed by upstream name, so a reload during an
// outage does not hand out a fresh budget. State.Retain forgets the targets
// and upstreams a reload removed.
//
// The balancing algorithms live in package balancer, which sees targets
// only through its Backend interface; this package builds the balancer
// (upstream → balancer), so balancers stay testable without pools.
//
// A Pool does no I/O at construction, opens no connections and never writes
// a response: transports belong to package proxy. Pick must stay
// allocation-free and safe for concurrent use, since it runs once per
// attempt; Attempts is a value, and a first attempt through it allocates
// nothing. The only goroutine of this package is the DNS refresher of a
// pool with hostname targets, run under the generation's context.
package upstream
