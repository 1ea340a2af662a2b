// Package route builds one route's handler: the control path's "build a
// route" step, called by router.Compile for every route of a plan.
//
//	control: config.Load → config.Validate → plan (route.Build per route,
//	         via router.Compile) → activate → server swap
//	request: server → router.Table.Match → route chain → terminal
//
// The recipe is one ordered list (recipe in route.go): strip the API key
// on routes that do not read it, authenticate (or strip the JWT claim
// headers on routes without auth), limit the body, rate-limit and apply
// quotas, on routes with llm read the model and check the token limits
// (llm.go: the answer's tokens are metered as it is relayed and spent when
// it ends), admit, answer from the response cache (package cache); then
// the terminal (proxy, lambda or aggregate, chosen once here). Every step
// is built by the same constructor shape from one environment value, Env,
// which carries everything a generation shares (the configuration,
// logger, metrics, counters, pools, transports, trusted proxies,
// authentication methods, the response cache). CORS is not a step: it is
// route data (Route.CORS) that the server's recorder applies to every
// answer of the route.
//
// Building is pure: no goroutine, no network, no storage write. The
// authentication methods a generation uses are planned, started and
// retired by AuthRegistry, which keeps them across reloads.
//
// The package must not import server: it knows nothing of listeners,
// generations or rendering, and holds no pointer back to the server.
package route
