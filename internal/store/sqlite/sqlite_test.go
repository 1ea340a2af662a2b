package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/migrations"
	"github.com/gantry-dev/gantry/internal/store/sqlstore"
	"github.com/gantry-dev/gantry/internal/store/storetest"
)

func openTemp(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close(): %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "gantry.db"))
	})
}

func TestShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gantry.db")
	storetest.RunShared(t, openTemp(t, path), openTemp(t, path))
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		dsn     string
		wantErr string
	}{
		{name: "missing parent directories", dsn: filepath.Join(dir, "data", "nested", "gantry.db")},
		{name: "characters a URI would cut", dsn: filepath.Join(dir, "odd ?#%20 name", "gantry.db")},
		{name: "empty", dsn: "", wantErr: "empty path"},
		{name: "in memory", dsn: ":memory:", wantErr: "must be a file path"},
		{name: "uri", dsn: "file:gantry.db?mode=ro", wantErr: "must be a file path"},
		{name: "a directory", dsn: dir, wantErr: "opening sqlite store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open(%q) error = %v, want %q", tt.dsn, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.dsn, err)
			}
			defer s.Close()
			if _, err := os.Stat(tt.dsn); err != nil {
				t.Errorf("database file not at %q: %v", tt.dsn, err)
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping() = %v", err)
			}
		})
	}
}

// TestConnectionSettings checks the pragmas each pool runs with, since a
// silently ignored DSN parameter would only show under load.
func TestConnectionSettings(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gantry.db"))
	tests := []struct {
		pragma string
		writer string
		reader string
	}{
		{pragma: "journal_mode", writer: "wal", reader: "wal"},
		{pragma: "foreign_keys", writer: "1", reader: "1"},
		{pragma: "synchronous", writer: "1", reader: "1"}, // NORMAL
		{pragma: "busy_timeout", writer: "5000", reader: "5000"},
		{pragma: "query_only", writer: "0", reader: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			for _, pool := range []struct {
				name string
				db   *sql.DB
				want string
			}{{"writer", s.d.w, tt.writer}, {"reader", s.d.r, tt.reader}} {
				var got string
				if err := pool.db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
					t.Fatalf("PRAGMA %s on %s: %v", tt.pragma, pool.name, err)
				}
				if got != pool.want {
					t.Errorf("PRAGMA %s on %s = %s, want %s", tt.pragma, pool.name, got, pool.want)
				}
			}
		})
	}
	if got := s.d.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", got)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gantry.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(): %v", err)
	}
	if err := s.CreateConsumer(t.Context(), store.Consumer{ID: "acme", Plan: "pro"}); err != nil {
		t.Fatalf("CreateConsumer(): %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close(): %v", err)
	}

	s = openTemp(t, path)
	if c, err := s.GetConsumer(t.Context(), "acme"); err != nil || c.Plan != "pro" {
		t.Errorf("GetConsumer(acme) after reopen = %+v, %v", c, err)
	}
	assertMigrated(t, s.d.r)
}

func TestConcurrentOpen(t *testing.T) {
	// Openers of a new file race to switch it to WAL; SQLite answers
	// some of them SQLITE_BUSY at once (about one race in a hundred on
	// two cores), which Open must wait out. Many fresh files make the race
	// all but certain within one run.
	const files, n = 20, 6
	for range files {
		path := filepath.Join(t.TempDir(), "gantry.db")
		for _, s := range storetest.OpenAtOnce(t, n, func() (*Store, error) { return Open(t.Context(), path) }) {
			s.Close()
		}
		s := openTemp(t, path)
		assertMigrated(t, s.d.r)
	}
}

// assertMigrated checks every migration is recorded exactly once.
func assertMigrated(t *testing.T, db *sql.DB) {
	t.Helper()
	all, err := migrations.All(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	var n, maxV int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &maxV); err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	if n != len(all) || maxV != all[len(all)-1].Version {
		t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, maxV, len(all), all[len(all)-1].Version)
	}
}

func TestMapError(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gantry.db"))
	ctx := t.Context()
	if err := s.CreateConsumer(ctx, store.Consumer{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sql  string
		want error
	}{
		{"primary key", "INSERT INTO consumers (id, source, created_at) VALUES ('acme', 'api', '2026-01-01')", store.ErrExists},
		{"foreign key", "INSERT INTO api_keys (id, consumer_id, hash, source, created_at) VALUES ('k', 'nobody', x'00', 'api', '2026-01-01')", store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.d.w.ExecContext(ctx, tt.sql)
			if err == nil {
				t.Fatal("statement succeeded, want a constraint error")
			}
			if got := s.d.MapError(err); !errors.Is(got, tt.want) {
				t.Errorf("MapError(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
	if err := errors.New("disk I/O error"); s.d.MapError(err) != err {
		t.Error("MapError changed an unrelated error")
	}
}

func TestCertStorage(t *testing.T) {
	storetest.RunCertStorage(t, func(t *testing.T, lease time.Duration) (certmagic.Storage, certmagic.Storage, func()) {
		path := filepath.Join(t.TempDir(), "gantry.db")
		a := openTemp(t, path)
		b := openTemp(t, path)
		return sqlstore.NewCertStorage(a.Store, lease, 50*time.Millisecond),
			sqlstore.NewCertStorage(b.Store, lease, 50*time.Millisecond),
			func() { a.Close() }
	})
}

// TestUpgradeKeepsUsage: a database written before the ledger had models
// and tokens (schema version 3) keeps its usage rows through the upgrade,
// with model "" and no tokens.
func TestUpgradeKeepsUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gantry.db")
	all, err := migrations.All(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	table, _ := migrations.SQLite.Expand(migrations.TableSQL)
	if _, err := db.Exec(table); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version > 3 {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("migration %d: %v", m.Version, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	bucket := time.Date(2026, 11, 3, 10, 15, 0, 0, time.UTC)
	if _, err := db.Exec(`INSERT INTO usage_buckets (node_id, bucket, consumer, route, version, requests, admitted, billable, units)
		VALUES ('node-a', ?, 'acme', 'orders', 'v2', 7, 6, 5, 5)`, bucket.Unix()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTemp(t, path)
	assertMigrated(t, s.d.r)
	got, err := s.QueryUsage(t.Context(), store.UsageQuery{From: bucket.Add(-time.Hour), To: bucket.Add(time.Hour), GroupBy: store.GroupByModel})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.UsageTotal{{Consumer: "acme", UsageCounts: store.UsageCounts{Requests: 7, Admitted: 6, Billable: 5, Units: 5}}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("QueryUsage after the upgrade = %+v, want %+v", got, want)
	}
	// The node rewrites its row, now with a model key: a second row.
	if err := s.UpsertUsage(t.Context(), "node-a", []store.UsageRow{{Bucket: bucket, Consumer: "acme", Route: "orders", Version: "v2", Model: "gpt-4.1",
		UsageCounts: store.UsageCounts{Requests: 1, InputTokens: 10, OutputTokens: 2}}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.QueryUsage(t.Context(), store.UsageQuery{From: bucket.Add(-time.Hour), To: bucket.Add(time.Hour)})
	if len(got) != 1 || got[0].Requests != 8 || got[0].InputTokens != 10 {
		t.Errorf("QueryUsage = %+v, want 8 requests and 10 input tokens", got)
	}
}
