package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by PostgresDSN.
const (
	EnvPostgresDSN     = "GANTRY_TEST_POSTGRES_DSN"
	envRequireServices = "GANTRY_TEST_REQUIRE_SERVICES"
)

// PostgresDSN returns a DSN for the database named by
// GANTRY_TEST_POSTGRES_DSN whose search_path is a new, empty schema
// (gantry_test_<random>), dropped with everything in it when the test ends.
// Stores closed in the test's own cleanups are closed before the drop.
//
// When the variable is unset or the server does not answer, the test is
// skipped, or fails when GANTRY_TEST_REQUIRE_SERVICES=1.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresDSN)
	if base == "" {
		unavailable(t, EnvPostgresDSN+" is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, "PostgreSQL at "+EnvPostgresDSN+" is unreachable: "+err.Error())
	}
	defer conn.Close(ctx)

	schema := "gantry_test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return withSearchPath(base, schema)
}

// withSearchPath adds search_path to a URL or key=value DSN; pgx sends
// unknown parameters to the server as run-time settings.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(envRequireServices) == "1" {
		t.Fatalf("%s (and %s=1)", why, envRequireServices)
	}
	t.Skip(why)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
