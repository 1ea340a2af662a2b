package admin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// adminRoutes returns the pattern of every route the package registers on
// its mux (mux.Handle and mux.HandleFunc calls), read from its source so
// that a route added anywhere in the package is found.
func adminRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var patterns []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "mux" || len(call.Args) != 2 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a route pattern that is not a string literal; the docs check cannot read it", fset.Position(call.Pos()))
				return true
			}
			p, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			patterns = append(patterns, p)
			return true
		})
	}
	return patterns
}

// TestAdminRoutesDocumented fails when a route of the admin mux has no
// "### <pattern>" heading in docs/admin-api.md, or a heading there names
// an endpoint the mux does not have.
func TestAdminRoutesDocumented(t *testing.T) {
	routes := adminRoutes(t)
	// The extractor must see the routes it is meant to check.
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "POST /admin/reload", "DELETE /admin/consumers/{id}/keys/{key_id}", "/admin/"} {
		if !slices.Contains(routes, want) {
			t.Fatalf("routes read from the source = %q, missing %q", routes, want)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "admin-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	var headings []string
	for line := range strings.Lines(string(b)) {
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "### "); ok {
			headings = append(headings, strings.ReplaceAll(h, "`", ""))
		}
	}
	names := func(h, pattern string) bool { return h == pattern || strings.HasPrefix(h, pattern+" ") }
	for _, p := range routes {
		if !slices.ContainsFunc(headings, func(h string) bool { return names(h, p) }) {
			t.Errorf("admin route %q is not documented: docs/admin-api.md needs a heading \"### %s\"", p, p)
		}
	}
	for _, h := range headings {
		method, path, _ := strings.Cut(h, " ")
		if !strings.HasPrefix(h, "/") && (method != strings.ToUpper(method) || !strings.HasPrefix(path, "/")) {
			continue // not an endpoint heading
		}
		if !slices.ContainsFunc(routes, func(p string) bool { return names(h, p) }) {
			t.Errorf("docs/admin-api.md documents %q, which the admin mux does not serve", h)
		}
	}
}
