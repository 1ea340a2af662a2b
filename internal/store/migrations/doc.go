// Package migrations holds the versioned schema of the store, one embedded
// SQL file per version (NNNN_name.sql), shared by the SQLite and PostgreSQL
// implementations. It is part of the control path: the store applies the
// pending versions once, at open, before serving anything.
//
// The files are written in the SQL both databases accept. Where a column
// type has to differ, a file names a placeholder that Dialect.Expand
// replaces:
//
//	{{TIMESTAMP}}     TIMESTAMPTZ on PostgreSQL, TIMESTAMP on SQLite (the
//	                  SQLite driver stores UTC text and parses it back)
//	{{BYTES}}         BYTEA / BLOB
//	{{BIGSERIAL_PK}}  a 64-bit auto-incrementing primary key that is never
//	                  reused: BIGSERIAL PRIMARY KEY / INTEGER PRIMARY KEY
//	                  AUTOINCREMENT
//
// Keep the list short: a placeholder is a place where the two databases can
// drift apart. Migrations are append-only; never edit a released file, add
// the next version instead (the usage ledger arrives as 0002).
//
// The package does not talk to a database; applying is the store's job.
package migrations
