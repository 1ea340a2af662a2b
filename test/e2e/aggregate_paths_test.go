package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestAggregatePathValues: a value placed in a path template never leaves
// its segment, and route parameters reach templates decoded once and are
// encoded exactly once (#13).
func TestAggregatePathValues(t *testing.T) {
	// src answers the id named by ?v=, so a client picks a hostile value.
	ids := map[string]string{"dotdot": "..", "dot": ".", "empty": "", "slash": "a/b", "ok": "u-1"}
	src := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id": %q}`, ids[r.URL.Query().Get("v")])
	}))
	internal := testkit.NewEcho(t, "internal")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  src: {targets: [{url: %q}]}
  internal: {targets: [{url: %q}]}
routes:
  - name: required
    match: {path: "/required/{v}"}
    aggregate:
      calls:
        - {name: src, upstream: src, path: "/src?v={v}"}
        - {name: profile, upstream: internal, path: "/internal/users/{src.id}/profile"}
  - name: optional
    match: {path: "/optional/{v}"}
    aggregate:
      calls:
        - {name: src, upstream: src, path: "/src?v={v}"}
        - {name: profile, upstream: internal, path: "/internal/users/{src.id}/profile", optional: true}
  - name: param
    match: {path: "/param/{id}"}
    allow_encoded_slash: true
    aggregate:
      calls:
        - {name: seen, upstream: internal, path: "/internal/users/{id}/profile?q={id}"}
  - name: files
    match: {path: "/files/{rest...}"}
    aggregate:
      calls:
        - {name: seen, upstream: internal, path: "/store/{rest}"}
`, src.URL, internal.URL)))

	t.Run("dot values fail a required call", func(t *testing.T) {
		for _, v := range []string{"dotdot", "dot", "empty"} {
			internal.Reset()
			r := get(t, g.URL+"/required/"+v)
			if r.Status != http.StatusBadGateway {
				t.Fatalf("%s: status %d %s, want 502", v, r.Status, r.Body)
			}
			if e := r.gwError(t); e.Error != "aggregate_failed" || !strings.Contains(e.Message, `aggregate call "profile" failed`) {
				t.Errorf("%s: error %+v, want aggregate_failed naming profile", v, e)
			}
			if n := internal.Count(); n != 0 {
				t.Errorf("%s: internal upstream got %d requests (%+v), want none", v, n, internal.Requests())
			}
		}
	})

	t.Run("dot values leave an optional call out", func(t *testing.T) {
		internal.Reset()
		r := get(t, g.URL+"/optional/dotdot")
		if r.Status != http.StatusOK || r.Header.Get("X-Gantry-Partial") != "profile" {
			t.Fatalf("status %d, X-Gantry-Partial %q, body %s; want 200 and profile left out", r.Status, r.Header.Get("X-Gantry-Partial"), r.Body)
		}
		if n := internal.Count(); n != 0 {
			t.Errorf("internal upstream got %d requests (%+v), want none", n, internal.Requests())
		}
	})

	t.Run("values stay in their segment", func(t *testing.T) {
		for v, want := range map[string]string{"slash": "/internal/users/a%2Fb/profile", "ok": "/internal/users/u-1/profile"} {
			internal.Reset()
			if r := get(t, g.URL+"/required/"+v); r.Status != http.StatusOK {
				t.Fatalf("%s: status %d %s", v, r.Status, r.Body)
			}
			if reqs := internal.Requests(); len(reqs) != 1 || reqs[0].URI != want {
				t.Errorf("%s: internal upstream saw %+v, want one request to %s", v, reqs, want)
			}
		}
	})

	t.Run("route parameters are encoded once", func(t *testing.T) {
		tests := []struct{ path, want string }{
			{"/param/%252e", "/internal/users/%252e/profile?q=%252e"},
			{"/param/%252e%252e", "/internal/users/%252e%252e/profile?q=%252e%252e"},
			{"/param/a%2Fb", "/internal/users/a%2Fb/profile?q=a%2Fb"},
			{"/param/%C3%BCber", "/internal/users/%C3%BCber/profile?q=%C3%BCber"},
			{"/files/a/%252e/b.txt", "/store/a/%252e/b.txt"},
			{"/files/a/b/", "/store/a/b/"},
		}
		for _, tt := range tests {
			internal.Reset()
			r := get(t, g.URL+tt.path)
			if r.Status != http.StatusOK {
				t.Fatalf("%s: status %d %s", tt.path, r.Status, r.Body)
			}
			if reqs := internal.Requests(); len(reqs) != 1 || reqs[0].URI != tt.want {
				t.Errorf("%s: internal upstream saw %+v, want one request to %s", tt.path, reqs, tt.want)
			}
		}
	})
}
