package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/migrations"
	"github.com/gantry-dev/gantry/internal/store/sqlstore"
)

// retention is how long change-feed entries are kept; older ones are
// pruned at open.
const retention = 7 * 24 * time.Hour

// Store is a store.Store in a SQLite file. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	d *driver
}

var _ store.Store = (*Store)(nil)

// busyWait is how long a connection waits for another's lock before
// failing (SQLite's busy timeout), and how long Open retries the one
// contention SQLite will not wait out (connectWriter).
const busyWait = 5 * time.Second

// Parameters of every connection. Busy timeout: busyWait. Times are
// written as UTC text and read back as time.Time.
var connParams = "_pragma=busy_timeout(" + strconv.FormatInt(busyWait.Milliseconds(), 10) + ")" +
	"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_time_format=sqlite&_timezone=UTC"

// Open opens (creating it and its parent directories when missing) the
// database file at path dsn and applies pending migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("opening sqlite store: empty path")
	}
	if dsn == ":memory:" || strings.HasPrefix(dsn, "file:") {
		// An in-memory database would differ per connection, and a URI
		// would bypass the settings below.
		return nil, fmt.Errorf("opening sqlite store: dsn %q must be a file path", dsn)
	}
	path, err := filepath.Abs(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", dsn, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("opening sqlite store: creating directory: %w", err)
	}
	uri := fileURI(path)

	w, err := sql.Open("sqlite", uri+"?"+connParams+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// The writer connects first: it creates the file and switches it to
	// WAL, which readers then inherit.
	if err := connectWriter(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", uri+"?"+connParams+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)

	d := &driver{w: w, r: r}
	if err := sqlstore.Migrate(ctx, d, migrations.SQLite); err != nil {
		d.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	s := &Store{Store: sqlstore.New(d), d: d}
	if err := s.PruneChanges(ctx, time.Now().Add(-retention)); err != nil {
		d.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	return s, nil
}

// connectWriter makes w's connection, which creates the file and switches
// it to WAL. Processes (or stores) that open a new file at once can each
// hold a shared lock while asking for the exclusive one the switch needs;
// SQLite then answers one of them SQLITE_BUSY at once rather than wait,
// as waiting could deadlock. So a busy connect is tried again, backing
// off, for as long as the busy timeout would have waited.
func connectWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(busyWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := w.PingContext(ctx)
		if err == nil || !busy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// busy reports whether err is SQLite's SQLITE_BUSY, extended codes
// included.
func busy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// fileURI turns an absolute path into a file: URI, escaping the characters
// ('?', '#', '%') that would otherwise end the path.
func fileURI(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // A Windows drive letter: file:///C:/...
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

// driver is sqlstore.Driver over a single-connection writer pool and a
// read-only reader pool on the same file.
type driver struct {
	w, r *sql.DB
}

func (d *driver) Reader() sqlstore.Querier { return querier{d.r} }

func (d *driver) Write(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(querier{tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

func (d *driver) MapError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", store.ErrExists, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

func (d *driver) Ping(ctx context.Context) error {
	return d.r.PingContext(ctx)
}

func (d *driver) Close() error {
	return errors.Join(d.r.Close(), d.w.Close())
}

// sqlQuerier is what *sql.DB and *sql.Tx have in common.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type querier struct{ q sqlQuerier }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.q.QueryRowContext(ctx, query, args...)
}

// sqlRows drops the error of Close; a read error surfaces through Err.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
