package ui

import (
	"io/fs"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler("/ui/", "dashboard/index.html")
	tests := []struct {
		method, path string
		status       int
		wantBody     string
	}{
		{"GET", "/ui/", 200, "<!doctype html>"},
		{"GET", "/ui/index.html", 200, "<!doctype html>"},
		{"HEAD", "/ui/", 200, ""},
		{"GET", "/ui/common/base.css", 200, "prefers-color-scheme"},
		{"GET", "/ui/common/vendor/uPlot.esm.js", 200, "uPlot"},
		{"GET", "/ui/common", 404, ""},
		{"GET", "/ui/common/", 404, ""},
		{"GET", "/ui/../ui.go", 404, ""},
		{"GET", "/ui/dashboard/pages/../../../ui.go", 404, ""},
		{"GET", "/ui/nothing.js", 404, ""},
		{"GET", "/ui/dashboard/app.js", 200, "import"},
		{"GET", "/ui/portal/app.js", 404, ""},
		{"GET", "/ui/portal/index.html", 404, ""},
		{"GET", "/elsewhere/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://127.0.0.1:9080/", nil)
			req.URL.Path = tt.path // unclean on purpose: no mux in front
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("%s %s body lacks %q", tt.method, tt.path, tt.wantBody)
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered a body")
			}
			if rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("security headers missing: %v", rec.Header())
			}
		})
	}
}

// TestAssetsComplete: every module a page imports and every file an HTML
// page names is embedded.
func TestAssetsComplete(t *testing.T) {
	files := Assets()
	var missing []string
	seen := 0
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "vendor/") || !(strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".html")) {
			return err
		}
		b, _ := fs.ReadFile(files, p)
		for _, ref := range references(string(b)) {
			seen++
			// The dashboard is served under /ui/, the portal at /.
			target := strings.TrimPrefix(strings.TrimPrefix(ref, "/ui/"), "/")
			if !strings.HasPrefix(ref, "/") {
				target = path.Join(path.Dir(p), ref)
			}
			if _, err := fs.Stat(files, target); err != nil {
				missing = append(missing, p+" → "+ref)
			}
		}
		return nil
	})
	if seen < 20 {
		t.Fatalf("found %d references, want the pages' imports", seen)
	}
	if len(missing) != 0 {
		t.Errorf("references to files that are not embedded:\n%s", strings.Join(missing, "\n"))
	}
}

// references returns the local paths a page or module names: ES module
// imports, and src and href attributes.
func references(s string) []string {
	var out []string
	for _, marker := range []string{"from '", "import('", `src="`, `href="`} {
		rest := s
		for {
			i := strings.Index(rest, marker)
			if i < 0 {
				break
			}
			rest = rest[i+len(marker):]
			end := strings.IndexAny(rest, `'"`)
			if end < 0 {
				break
			}
			if ref := rest[:end]; strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") || strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//") {
				out = append(out, ref)
			}
		}
	}
	return out
}

// TestHandlerVars: the portal at / serves its own folder and common/ only,
// with its title in the page, HTML-escaped.
func TestHandlerVars(t *testing.T) {
	h := HandlerVars("/", "portal/index.html", map[string]string{"title": `Acme <API> & "Co"`})
	tests := []struct {
		path     string
		status   int
		wantBody string
	}{
		{"/", 200, "<title>Acme &lt;API&gt; &amp; &#34;Co&#34;</title>"},
		{"/portal/app.js", 200, "import"},
		{"/common/base.css", 200, "prefers-color-scheme"},
		{"/dashboard/index.html", 404, ""},
		{"/dashboard/app.js", 404, ""},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "http://127.0.0.1:9090"+tt.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("GET %s = %d, want %d with %q", tt.path, rec.Code, tt.status, tt.wantBody)
		}
		if strings.Contains(rec.Body.String(), "{{title}}") {
			t.Errorf("GET %s left the placeholder in", tt.path)
		}
	}
}
