package testkit

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

// MuxRoutes returns the pattern of every route the package in dir
// registers on a mux named mux (mux.Handle and mux.HandleFunc calls), read
// from its non-test source, so that a route added anywhere in the package
// is found.
func MuxRoutes(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
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

// CheckRoutesDocumented fails t when a route has no "### <pattern>"
// heading in the markdown file doc, or a heading there names an endpoint
// routes does not have. skip lists routes that need no heading (such as a
// page server at "/").
func CheckRoutesDocumented(t testing.TB, routes []string, doc string, skip ...string) {
	t.Helper()
	b, err := os.ReadFile(doc)
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
		if slices.Contains(skip, p) {
			continue
		}
		if !slices.ContainsFunc(headings, func(h string) bool { return names(h, p) }) {
			t.Errorf("route %q is not documented: %s needs a heading \"### %s\"", p, filepath.Base(doc), p)
		}
	}
	for _, h := range headings {
		method, path, _ := strings.Cut(h, " ")
		if !strings.HasPrefix(h, "/") && (method != strings.ToUpper(method) || !strings.HasPrefix(path, "/")) {
			continue // not an endpoint heading
		}
		if !slices.ContainsFunc(routes, func(p string) bool { return names(h, p) }) {
			t.Errorf("%s documents %q, which the mux does not serve", filepath.Base(doc), h)
		}
	}
}
