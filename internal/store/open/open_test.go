package open

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/store/postgres"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
	"github.com/gantry-dev/gantry/internal/store/storetest"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		name     string
		driver   string
		dsn      func(t *testing.T) string
		wantType string
		wantErr  string
	}{
		{name: "default is sqlite", driver: "", dsn: tempFile, wantType: "sqlite"},
		{name: "sqlite", driver: "sqlite", dsn: tempFile, wantType: "sqlite"},
		{name: "postgres", driver: "postgres", dsn: func(t *testing.T) string { return storetest.PostgresDSN(t) }, wantType: "postgres"},
		{name: "postgres without dsn", driver: "postgres", dsn: func(*testing.T) string { return "" }, wantErr: "storage.dsn is required"},
		{name: "unknown driver", driver: "mysql", dsn: tempFile, wantErr: `unknown driver "mysql"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.driver, tt.dsn(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open(%q) error = %v, want %q", tt.driver, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.driver, err)
			}
			defer s.Close()
			var got string
			switch s.(type) {
			case *sqlite.Store:
				got = "sqlite"
			case *postgres.Store:
				got = "postgres"
			}
			if got != tt.wantType {
				t.Errorf("Open(%q) = %T, want the %s store", tt.driver, s, tt.wantType)
			}
		})
	}
}

func tempFile(t *testing.T) string {
	return filepath.Join(t.TempDir(), "gantry.db")
}
