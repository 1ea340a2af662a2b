package migrations

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		name    string
		dialect Dialect
		in      string
		want    string
		wantErr string
	}{
		{
			name:    "postgres types",
			dialect: Postgres,
			in:      "a {{TIMESTAMP}}, b {{BYTES}}, seq {{BIGSERIAL_PK}}",
			want:    "a TIMESTAMPTZ, b BYTEA, seq BIGSERIAL PRIMARY KEY",
		},
		{
			name:    "sqlite types",
			dialect: SQLite,
			in:      "a {{TIMESTAMP}}, b {{BYTES}}, seq {{BIGSERIAL_PK}}",
			want:    "a TIMESTAMP, b BLOB, seq INTEGER PRIMARY KEY AUTOINCREMENT",
		},
		{
			name:    "no placeholder",
			dialect: SQLite,
			in:      "CREATE TABLE plans (id TEXT PRIMARY KEY)",
			want:    "CREATE TABLE plans (id TEXT PRIMARY KEY)",
		},
		{
			name:    "unknown placeholder",
			dialect: Postgres,
			in:      "a {{JSONB}}",
			wantErr: "unknown placeholder {{JSONB}}",
		},
		{
			name:    "malformed placeholder",
			dialect: SQLite,
			in:      "a {{bytes}}",
			wantErr: "malformed placeholder",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.dialect.Expand(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Expand(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []Migration
		wantErr []string
	}{
		{
			name: "sorted by version, other files ignored",
			files: fstest.MapFS{
				"0002_usage.sql":     {Data: []byte("CREATE TABLE usage (at {{TIMESTAMP}})")},
				"0001_consumers.sql": {Data: []byte("CREATE TABLE consumers (id TEXT)")},
				"README.md":          {Data: []byte("not sql")},
			},
			want: []Migration{
				{Version: 1, Name: "consumers", SQL: "CREATE TABLE consumers (id TEXT)"},
				{Version: 2, Name: "usage", SQL: "CREATE TABLE usage (at TIMESTAMP)"},
			},
		},
		{
			name: "every problem reported",
			files: fstest.MapFS{
				"0001_consumers.sql": {Data: []byte("x")},
				"0001_again.sql":     {Data: []byte("y")},
				"1_short.sql":        {Data: []byte("z")},
				"0000_zero.sql":      {Data: []byte("z")},
				"0003_bad.sql":       {Data: []byte("{{NOPE}}")},
			},
			wantErr: []string{
				"version 1 already used",
				"1_short.sql: name must be NNNN_name.sql",
				"0000_zero.sql: versions start at 0001",
				"0003_bad.sql: unknown placeholder {{NOPE}}",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(tt.files, SQLite)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("load() = %v, want errors %q", got, tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("load() error = %v, want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("load(): %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEmbedded checks the shipped files expand cleanly for both databases
// and are numbered without gaps, so a missing file cannot go unnoticed.
func TestEmbedded(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres} {
		t.Run(d.Name, func(t *testing.T) {
			ms, err := All(d)
			if err != nil {
				t.Fatalf("All(%s): %v", d.Name, err)
			}
			if len(ms) == 0 {
				t.Fatal("All() returned no migrations")
			}
			for i, m := range ms {
				if m.Version != i+1 {
					t.Errorf("migration %d has version %d, want %d", i, m.Version, i+1)
				}
				if strings.Contains(m.SQL, "{{") {
					t.Errorf("migration %d still has a placeholder", m.Version)
				}
			}
			table, err := d.Expand(TableSQL)
			if err != nil || strings.Contains(table, "{{") {
				t.Errorf("Expand(TableSQL) = %q, %v", table, err)
			}
		})
	}
}
