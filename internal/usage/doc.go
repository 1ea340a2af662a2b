// Package usage meters requests per consumer for analytics, quotas and
// billing, and turns the stored ledger into reports.
//
// It sits at the end of the request path: once the server has answered, it
// hands the finished Exchange to Meter.Record (see FromExchange), which only
// adds to in-memory totals per (consumer, route, version, minute), in
// sharded maps under short locks. A background flusher writes the totals to
// storage every flush interval, off the request path.
//
// Writes are idempotent: each one carries a bucket's absolute totals for
// this process (its node id), so a write retried after a timeout sets the
// same numbers again, and processes sharing one database never write each
// other's rows. A bucket stays in memory until its minute has ended and a
// write holding its final totals succeeded; then it is final (OnFinal).
// While storage is down the totals wait in memory, up to MaxPending
// buckets; past that, records are dropped and counted (OnDrop).
//
// Report and ParseQuery serve GET /admin/usage and `gantry usage`.
//
// It must not block or fail a request: Record never waits on storage, and
// no storage error reaches a client.
package usage
