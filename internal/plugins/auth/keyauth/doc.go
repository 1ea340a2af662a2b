// Package keyauth authenticates requests that carry an API key, in the
// header named by auth.api_key.header and, when configured, the query
// parameter auth.api_key.query.
//
// It is one method of the Auth phase of a route's chain: the auth plugin
// calls Authenticator.Authenticate on the request path and records the
// consumer on the Exchange. On the control path one Authenticator is built
// with Build over the configured store.Store (touching neither storage nor
// goroutines, so a plan can be discarded), started with Start and stopped
// with Close; its cache does not depend on the route table, so it can
// outlive config reloads.
//
// Keys are random (Generate: 192 bits from crypto/rand), shown once, and
// stored only as their SHA-256 hash with a short non-secret prefix. A
// request's key is hashed, looked up by hash, and the hash the store returns
// is compared in constant time before it is accepted.
//
// The request path never waits on storage for a key it has verified: hashes
// map to consumers in a sharded in-memory cache. A miss is looked up once
// however many requests present the same key at the same time, a bad key is
// remembered for a short while (Options.NegativeTTL), and a verified entry
// past Options.CacheTTL is served while it is refreshed in the background.
// A background poller reads store.Changes every Options.PollInterval and
// drops the keys and consumers that changed, so a revoked key is refused on
// every node sharing the storage within about one poll interval.
//
// When storage cannot be reached, keys already verified keep working (stale
// entries are served and the outage is logged once a minute), and a key not
// seen before is answered 503 storage_unavailable rather than 401: an
// outage must not tell a paying customer that their key is wrong.
//
// The package must not write responses, must not let a key reach the
// upstream (it is removed from the request once read) and must never put a
// key, or its hash, in an error or a log line. It imports only config,
// pipeline and store of this module.
package keyauth
