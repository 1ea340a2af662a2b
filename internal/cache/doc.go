// Package cache is the gateway's response cache: a shared cache in the sense
// of RFC 9111, one step of a route's chain on the request path.
//
//	request: server → router.Table.Match → route chain (… → admit → cache)
//	         → terminal (proxy | aggregate | lambda) → upstream
//
// The route's cache step (Cache.Middleware) sits after the gates: a
// request is authenticated, rate-limited and admitted (so metered and
// billed) before the cache answers it. It serves fresh entries (X-Cache:
// HIT), serves a stale entry while one background request revalidates it
// (STALE, within stale_while_revalidate), revalidates a stale entry with
// the upstream by its validators (REVALIDATED when the upstream answers
// 304), and otherwise asks the terminal once per key however many clients
// ask at once (MISS), storing what RFC 9111 lets a shared cache store.
// Requests it does not cache pass through with X-Cache: BYPASS.
//
// The rules are pure functions over headers (control.go: the
// Cache-Control parser; policy.go: what may be stored and for how long);
// entries are kept in a Store: Memory (bounded by bytes, admission and
// eviction by otter's W-TinyLFU) or Redis (shared by nodes; a key TTL per
// entry and a purge epoch per route).
//
// The package must not import server or route: it knows nothing of
// listeners, generations or the recipe. It never writes an error
// response: what the terminal returns is returned as it is.
package cache
