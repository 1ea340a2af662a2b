package migrations

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Migration is one schema version, its SQL already expanded for a dialect.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Dialect names a database and the column types its placeholders become.
type Dialect struct {
	Name  string
	types map[string]string
}

// The two supported dialects.
var (
	SQLite = Dialect{Name: "sqlite", types: map[string]string{
		"TIMESTAMP":    "TIMESTAMP",
		"BYTES":        "BLOB",
		"BIGSERIAL_PK": "INTEGER PRIMARY KEY AUTOINCREMENT",
	}}
	Postgres = Dialect{Name: "postgres", types: map[string]string{
		"TIMESTAMP":    "TIMESTAMPTZ",
		"BYTES":        "BYTEA",
		"BIGSERIAL_PK": "BIGSERIAL PRIMARY KEY",
	}}
)

// TableSQL creates the table that records applied versions. It is not a
// numbered migration because it must exist before any of them is checked.
const TableSQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at {{TIMESTAMP}} NOT NULL
)`

var placeholder = regexp.MustCompile(`\{\{([A-Z_]*)\}\}`)

// Expand replaces every {{NAME}} placeholder in sql with the dialect's type,
// and fails on a name the dialect does not know.
func (d Dialect) Expand(sql string) (string, error) {
	var unknown []string
	out := placeholder.ReplaceAllStringFunc(sql, func(m string) string {
		name := m[2 : len(m)-2]
		t, ok := d.types[name]
		if !ok {
			unknown = append(unknown, m)
			return m
		}
		return t
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown placeholder %s for %s", strings.Join(unknown, ", "), d.Name)
	}
	if n := strings.Count(sql, "{{"); n != len(placeholder.FindAllStringIndex(sql, -1)) {
		return "", fmt.Errorf("malformed placeholder: want {{NAME}} with NAME in A-Z and _")
	}
	return out, nil
}

// All returns every embedded migration expanded for d, oldest first.
func All(d Dialect) ([]Migration, error) {
	return load(files, d)
}

var fileName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

func load(fsys fs.FS, d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var (
		out  []Migration
		errs []error
	)
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			errs = append(errs, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name()))
			continue
		}
		v, _ := strconv.Atoi(m[1]) // Four digits always parse.
		if v == 0 {
			errs = append(errs, fmt.Errorf("migration %s: versions start at 0001", e.Name()))
			continue
		}
		if prev, ok := seen[v]; ok {
			errs = append(errs, fmt.Errorf("migration %s: version %d already used by %s", e.Name(), v, prev))
			continue
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("reading migration %s: %w", e.Name(), err))
			continue
		}
		sql, err := d.Expand(string(b))
		if err != nil {
			errs = append(errs, fmt.Errorf("migration %s: %w", e.Name(), err))
			continue
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: sql})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}
