// Package health runs the active health checks of upstream pools.
//
// It sits on the control path: when the server puts a config generation in
// force it starts one checker per upstream that has a health_check, under
// the generation's context, and the checker stops when that generation
// retires. Checkers never run for a validate-only compile.
//
// A checker probes every target of its pool each interval, concurrently and
// with the configured timeout, and feeds each result to
// upstream.Target.RecordProbe, which applies unhealthy_after and
// healthy_after and updates gantry_upstream_healthy. Verdicts live in
// upstream.State, so a reload keeps them.
//
// Probes use a transport of their own: no proxy from the environment, at
// most one idle connection per target, nothing shared with client traffic,
// so a probe never queues behind requests and one upstream's slow probes
// never delay another's. Passive ejection is not here: it is fed by the
// proxy's attempts (upstream.Target.Report).
package health
