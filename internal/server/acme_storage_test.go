package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
)

// TestACMEStorage checks server.tls.acme.shared picks the storage backend,
// which two nodes on one database then share, and that without it the
// storage directory is used.
func TestACMEStorage(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "gantry.db")
	openStore := func() *sqlite.Store {
		st, err := sqlite.Open(t.Context(), dbPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := openStore(), openStore()

	files, err := acmeStorage(config.ACME{Storage: filepath.Join(dir, "acme")}, a)
	if err != nil {
		t.Fatal(err)
	}
	if fs, ok := files.(*certmagic.FileStorage); !ok || fs.Path != filepath.Join(dir, "acme") {
		t.Errorf("acmeStorage() without shared = %#v, want the storage directory", files)
	}

	sa, err := acmeStorage(config.ACME{Storage: "unused", Shared: true}, a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := acmeStorage(config.ACME{Storage: "unused", Shared: true}, b)
	if err != nil {
		t.Fatal(err)
	}
	const key = "certificates/ca/api.example.com/api.example.com.crt"
	if err := sa.Store(t.Context(), key, []byte("pem")); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.Load(t.Context(), key); err != nil || string(got) != "pem" {
		t.Errorf("Load() on the other node = %q, %v; want the certificate the first stored", got, err)
	}

	if _, err := acmeStorage(config.ACME{Shared: true}, nil); err == nil || !strings.Contains(err.Error(), "shared") {
		t.Errorf("acmeStorage() shared without a SQL store = %v, want an error naming shared", err)
	}
}
