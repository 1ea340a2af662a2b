package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/migrations"
	"github.com/gantry-dev/gantry/internal/store/sqlstore"
)

// writeLockKey is the pg_advisory_xact_lock key every write transaction
// takes ("gantry" in ASCII). Another application using the same key on the
// same database would only slow gantry's writes down.
const writeLockKey int64 = 0x67616e747279

// retention is how long change-feed entries are kept; older ones are
// pruned at open.
const retention = 7 * 24 * time.Hour

// Store is a store.Store in PostgreSQL. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to dsn and applies pending migrations. Several nodes may
// open the same database at once.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the DSN, password included.
		return nil, errors.New("opening postgres store: invalid dsn")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening postgres store %s: %w", where(cfg), err)
	}
	d := driver{pool: pool}
	if err := sqlstore.Migrate(ctx, d, migrations.Postgres); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening postgres store %s: %w", where(cfg), err)
	}
	s := &Store{Store: sqlstore.New(d), pool: pool}
	if err := s.PruneChanges(ctx, time.Now().Add(-retention)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening postgres store %s: %w", where(cfg), err)
	}
	return s, nil
}

// where names the database for error messages, without credentials.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// driver is sqlstore.Driver over a pgx pool.
type driver struct {
	pool *pgxpool.Pool
}

func (d driver) Reader() sqlstore.Querier { return querier{d.pool} }

func (d driver) Write(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	// A no-op after Commit.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
		return fmt.Errorf("taking write lock: %w", err)
	}
	if err := fn(querier{tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

func (d driver) MapError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %w", store.ErrExists, err)
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

func (d driver) Ping(ctx context.Context) error {
	return d.pool.Ping(ctx)
}

func (d driver) Close() error {
	d.pool.Close()
	return nil
}

// pgQuerier is what *pgxpool.Pool and pgx.Tx have in common.
type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type querier struct{ q pgQuerier }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return q.q.Query(ctx, query, args...)
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.q.QueryRow(ctx, query, args...)
}
