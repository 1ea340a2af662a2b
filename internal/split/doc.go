// Package split is the terminal of a route with a split: it chooses which
// side (an upstream) serves each request and hands the request to that
// upstream's own proxy handler, so every side keeps its pool, health
// checks, retries and retry budget.
//
//	request: server → router → route chain → terminal (split → proxy of
//	         the chosen side) → upstream.Pool.Pick → upstream
//	control: route.Build builds one proxy handler per side, then New
//
// The choice, in order: the first side whose match holds (all its
// headers and cookies with exactly these values); else, with sticky, the
// side the client's cookie names, while that side is still a weighted side
// of the split and has a target that takes traffic; else a side drawn by
// weight among the weighted sides that have a target that takes traffic
// (among all of them when none has). The draw uses math/rand/v2's
// process-wide generator (ChaCha8, seeded from the operating system, safe
// for concurrent use and unbiased for rand.N), so shares converge to the
// weights: 10,000 requests land within 1% of them.
//
// The sticky cookie holds an opaque token per (route, upstream), the same
// on every node and across reloads; a token that is not one of the
// route's weighted sides is ignored, so a cookie can only choose a side
// the split lists. It is the gateway's: it is removed from the request
// before the upstream sees it.
//
// It must not import route or server, and it holds no goroutine.
package split
