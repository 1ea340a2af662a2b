// Package postgres is the store for several gateway nodes sharing one
// PostgreSQL database, over a pgx connection pool. It sits beside the
// request path, on the control side: each node opens it at start, the admin
// API and the CLI write through it, and authentication reads it only on a
// cache miss and polls its change feed to drop revoked keys.
//
// Every write transaction first takes one transaction-scoped advisory lock
// (WriteLockKey). That makes change-feed sequence numbers commit in order,
// so a node reading "seq > n" never skips a change that was numbered
// earlier but committed later, and it makes concurrent migrations at start
// safe. Writes are rare admin actions; serialising them costs nothing that
// matters.
//
// The DSN is anything pgx accepts (postgres:// URL or key=value); extra
// parameters such as search_path are sent as run-time settings.
package postgres
