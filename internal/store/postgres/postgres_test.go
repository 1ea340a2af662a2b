package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/migrations"
	"github.com/gantry-dev/gantry/internal/store/sqlstore"
	"github.com/gantry-dev/gantry/internal/store/storetest"
)

func openDSN(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open(): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openDSN(t, storetest.PostgresDSN(t))
	})
}

func TestShared(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	storetest.RunShared(t, openDSN(t, dsn), openDSN(t, dsn))
}

// TestConcurrentMigrations starts several nodes at once on an empty
// schema: all must come up, and each migration must run once.
func TestConcurrentMigrations(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	const n = 4
	stores := storetest.OpenAtOnce(t, n, func() (*Store, error) { return Open(t.Context(), dsn) })
	for _, s := range stores {
		t.Cleanup(func() { s.Close() })
	}
	if t.Failed() {
		return
	}
	all, err := migrations.All(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	var rows, maxV int
	if err := stores[0].pool.QueryRow(t.Context(), "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&rows, &maxV); err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	if rows != len(all) || maxV != all[len(all)-1].Version {
		t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", rows, maxV, len(all), all[len(all)-1].Version)
	}
	// The nodes share the data.
	if err := stores[1].CreateConsumer(t.Context(), store.Consumer{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[n-1].GetConsumer(t.Context(), "acme"); err != nil {
		t.Errorf("GetConsumer(acme) on another node: %v", err)
	}
}

func TestReopen(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConsumer(t.Context(), store.Consumer{ID: "acme", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openDSN(t, dsn)
	if c, err := s.GetConsumer(t.Context(), "acme"); err != nil || c.Plan != "pro" {
		t.Errorf("GetConsumer(acme) after reopen = %+v, %v", c, err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		wantErr string
		notIn   string
	}{
		{name: "unparsable", dsn: "postgres://gantry:s3cret-pw@127.0.0.1:5432/gantry?sslmode=bogus", wantErr: "invalid dsn", notIn: "s3cret-pw"},
		{name: "nobody listening", dsn: "postgres://gantry:s3cret-pw@127.0.0.1:1/gantry?sslmode=disable&connect_timeout=2", wantErr: "127.0.0.1:1/gantry", notIn: "s3cret-pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error", tt.dsn)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), tt.notIn) {
				t.Errorf("Open() error = %q, want %q and not %q", err, tt.wantErr, tt.notIn)
			}
		})
	}
}

func TestMapError(t *testing.T) {
	s := openDSN(t, storetest.PostgresDSN(t))
	ctx := t.Context()
	if err := s.CreateConsumer(ctx, store.Consumer{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	d := driver{pool: s.pool}
	tests := []struct {
		name string
		sql  string
		want error
	}{
		{"primary key", "INSERT INTO consumers (id, source, created_at) VALUES ('acme', 'api', now())", store.ErrExists},
		{"foreign key", "INSERT INTO api_keys (id, consumer_id, hash, source, created_at) VALUES ('k', 'nobody', '\\x00', 'api', now())", store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.pool.Exec(ctx, tt.sql)
			if err == nil {
				t.Fatal("statement succeeded, want a constraint error")
			}
			if got := d.MapError(err); !errors.Is(got, tt.want) {
				t.Errorf("MapError(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}

func TestCertStorage(t *testing.T) {
	storetest.RunCertStorage(t, func(t *testing.T, lease time.Duration) (certmagic.Storage, certmagic.Storage, func()) {
		dsn := storetest.PostgresDSN(t)
		a := openDSN(t, dsn)
		b := openDSN(t, dsn)
		return sqlstore.NewCertStorage(a.Store, lease, 50*time.Millisecond),
			sqlstore.NewCertStorage(b.Store, lease, 50*time.Millisecond),
			func() { a.Close() }
	})
}
