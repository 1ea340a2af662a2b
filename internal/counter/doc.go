// Package counter decides rate limits and quotas: token buckets (GCRA) and
// per-period request counters, kept in this process (Memory) or shared by
// every gateway node through Redis (Redis).
//
// It sits on the request path under the Policy phase: the ratelimit plugin
// builds a Request (the buckets and quota a request faces) and calls
// Counter.Take once per request. One Take is all-or-nothing: tokens are
// taken only when every bucket has one, and the quota is charged only when,
// in addition, it has room. On the control path, Open builds the counter
// from the counters section; it outlives config generations.
//
// Memory is sharded with no global lock, expires full buckets and past
// quota counters, and bounds how many buckets it keeps. Its quota counters
// can be exported (QuotaCounts) and restored (RestoreQuotas) across a
// restart.
//
// Redis decides in exact mode with one Lua script, one round trip, on the
// Redis server's clock; in batched mode each node decides from leases of
// the shared budget and settles every batch window. A circuit breaker
// answers counters.on_failure at once, with no network I/O, while Redis is
// unreachable, and a background probe closes it when Redis is back.
//
// Token limits (a plan's token_limit and token_quota) use the same
// buckets and quota counters in two steps: Admit checks, taking nothing,
// that a bucket holds at least one token and the quota has room; Spend
// takes the tokens an answer used once it has ended, whatever is left, so
// a bucket can go below zero and then refuses until it has refilled.
// Redis runs both as one script each, exact in either sync mode.
//
// The package must not write responses or know about HTTP; it reports
// what it decided and the plugin answers.
package counter
