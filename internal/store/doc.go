// Package store keeps consumers, their API keys, the usage ledger and the
// saved quota counters behind one interface with two implementations:
// SQLite (sqlite/, the embedded default) and PostgreSQL (postgres/, for
// several gateway nodes sharing one database). Both run the same versioned
// migrations at open.
//
// It sits beside the request path, never on it: authentication caches what
// it reads here, and learns about revocations from Changes, so a request
// never waits on storage for a key it has seen. The meter writes usage in
// the background, never per request.
package store
