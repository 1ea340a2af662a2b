package ui

import (
	"embed"
	"html"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// Assets returns the embedded files; "common/..." and "dashboard/..." are
// at the top.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// securityHeaders are set on every answer of Handler. The pages load
// scripts, styles, images and data from their own origin only; uPlot sets
// element styles through the CSSOM, which style-src does not restrict.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
	"Cache-Control":          "no-cache",
}

// Handler serves the embedded files under prefix (such as "/ui/"): prefix
// itself answers index (such as "dashboard/index.html"), prefix+"common/x"
// the file common/x, prefix+"dashboard/x" the file dashboard/x: only
// common/ and index's own folder are served, so one listener never serves
// another's pages. Directories are not listed; other paths are 404.
func Handler(prefix, index string) http.Handler {
	return HandlerVars(prefix, index, nil)
}

// HandlerVars is Handler with index's "{{name}}" placeholders replaced by
// vars[name], HTML-escaped (such as the portal's title).
func HandlerVars(prefix, index string, vars map[string]string) http.Handler {
	files := Assets()
	own, _, _ := strings.Cut(index, "/")
	var replacer *strings.Replacer
	if len(vars) > 0 {
		var pairs []string
		for k, v := range vars {
			pairs = append(pairs, "{{"+k+"}}", html.EscapeString(v))
		}
		replacer = strings.NewReplacer(pairs...)
	}
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		name, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if name == "" || name == "index.html" {
			name = index
		}
		name = path.Clean(name)
		if top, _, _ := strings.Cut(name, "/"); top != "common" && top != own {
			http.NotFound(w, r)
			return
		}
		if st, err := fs.Stat(files, name); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		if name == index {
			// FileServer would redirect ".../index.html" to its directory.
			serveIndex(w, r2, files, name, replacer)
			return
		}
		fileServer.ServeHTTP(w, r2)
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request, files fs.FS, name string, replacer *strings.Replacer) {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if replacer != nil {
		b = []byte(replacer.Replace(string(b)))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
