package sqlstore

import (
	"context"
)

// Querier runs SQL with $1-style parameters; it is a connection pool or a
// transaction. Query errors for a missing row satisfy
// errors.Is(err, sql.ErrNoRows).
type Querier interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows iterates a result set; Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result; Scan reports sql.ErrNoRows when empty.
type Row interface {
	Scan(dest ...any) error
}

// Driver is what a database brings to the shared implementation.
type Driver interface {
	// Reader runs read-only statements outside a transaction.
	Reader() Querier
	// Write runs fn in one transaction, committed when fn returns nil and
	// rolled back otherwise. Write transactions are serialised (across
	// every process sharing the database), so change rows become visible
	// in seq order and a poller never skips one committed late.
	Write(ctx context.Context, fn func(q Querier) error) error
	// MapError turns constraint violations into store.ErrExists or
	// store.ErrNotFound (wrapped); other errors pass through.
	MapError(err error) error
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}
