// Package balancer holds the load-balancing algorithms of an upstream pool:
// round_robin (smooth weighted), least_conn, p2c_ewma and hash.
//
// On the request path it is the inside of upstream.Pool.Pick:
//
//	server → router → route chain → terminal (proxy) → upstream.Pool.Pick → balancer.Picker.Pick
//
// A Picker chooses among Members by index. It sees each target only through
// the small Backend interface (available? in flight? latency?), so this
// package imports nothing of package upstream: upstream owns the targets and
// their state and builds its Picker here (upstream → balancer, never back).
//
// Pickers must not allocate, must be safe for concurrent use, must skip
// unavailable members and members already tried by the request (retries go
// to a different target), and return -1 when nothing is left. They do no
// I/O and keep no per-request state.
package balancer
