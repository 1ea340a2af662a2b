// Package sqlstore implements store.Store once, in SQL that SQLite and
// PostgreSQL both accept ($1-style parameters, ON CONFLICT DO NOTHING), over
// a small Driver interface that the sqlite and postgres packages provide.
// Keeping one copy of the semantics is what lets a single conformance suite
// vouch for both databases.
//
// It sits beside the request path: authentication reads through it on a
// cache miss and polls Changes to invalidate. Every mutation records change
// rows in the same transaction as the mutation itself, so a node that sees
// the change also sees the new state.
//
// CertStorage (acme.go) is certmagic's storage over the same database, for
// server.tls.acme.shared: ACME certificates and keys as rows, and locks as
// rows with a lease their holder extends, so that nodes sharing the
// database share certificates and obtain each one once.
//
// It must not know which database it runs on: anything database-specific
// (connection setup, locking, error codes, type placeholders) belongs to the
// Driver or to the migrations package.
package sqlstore
