package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestRefusedReloadChangesNothing makes a reload fail at each stage,
// decode (a file that is not YAML, a file with an unknown key), plan (an
// upstream that cannot be built) and activate (storage's write lock held),
// on SQLite and PostgreSQL. The refused file swaps consumer acme for bob
// and adds a route. After the refusal storage still holds acme and not
// bob, the new route is not served, and the counters go on from where
// they were: the route's rate limit and the plan's quota, partly spent
// before, are not refilled by the attempt.
func TestRefusedReloadChangesNothing(t *testing.T) {
	const (
		key        = "acme-key-7a3c5e9b1f"
		routeLimit = 10
		quota      = 4
	)
	stages := []struct {
		name string
		// breaks are the edits, besides the common ones, that make the
		// reload fail at this stage.
		breaks [][2]string
		// lock holds storage's write lock during the reload.
		lock bool
		// post also refuses the file through POST /admin/reload (an
		// activation waits out storage's lock timeout: the watcher's
		// attempt is enough there).
		post bool
		// want is in the refusal's error.
		want string
	}{
		{name: "decode-not-yaml", breaks: [][2]string{{"upstreams:\n", "upstreams:\n  broken: {targets: [\n"}}, post: true},
		{name: "decode-unknown-key", breaks: [][2]string{{"    upstream: app\n", "    upstream: app\n    colour: blue\n"}}, post: true, want: "colour"},
		// No AWS credentials: a lambda upstream without an endpoint passes
		// the decoder and fails when the generation is built.
		{name: "plan", breaks: [][2]string{{"upstreams:\n", "upstreams:\n  fn: {lambda: {function: shop-api, region: us-east-1}}\n"}}, post: true, want: "upstreams.fn"},
		{name: "activate", lock: true, want: "storing the config file's consumers"},
	}
	for name, st := range lockableStorages {
		for _, stage := range stages {
			t.Run(name+"/"+stage.name, func(t *testing.T) {
				e := testkit.NewEcho(t, "app")
				section, dsn := st.section(t)
				g := testkit.Start(t, base(section+fmt.Sprintf(`plans:
  small:
    quota: {requests: %d, per: day}
consumers:
  - id: acme
    plan: small
    api_keys: [{key: %q}]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: app
    auth: [api_key]
    rate_limit: {requests: %d, per: 1h}
`, quota, key, e.URL, routeLimit)), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
				// spent counts the admitted requests: what the route's
				// bucket and the quota have seen.
				spent := 0
				call := func() response {
					t.Helper()
					spent++
					return get(t, g.URL+"/api", "X-API-Key: "+key)
				}
				for range 2 {
					if r := call(); r.Status != 200 || r.Header.Get("RateLimit-Remaining") != fmt.Sprint(routeLimit-spent) {
						t.Fatalf("request %d = %d %s, RateLimit-Remaining %q, want 200, %d", spent, r.Status, r.Body, r.Header.Get("RateLimit-Remaining"), routeLimit-spent)
					}
				}
				_, body := g.Admin("GET", "/admin/status", "")
				generation := statusGeneration(t, body)

				if stage.lock {
					unlock := st.lock(t, dsn)
					// Released before the gateway stops (and saves its
					// quota counts to storage).
					defer unlock()
				}
				before := time.Now()
				edits := append([][2]string{
					{"id: acme", "id: bob"},
					{"routes:\n", "routes:\n  - name: open\n    match: {path_prefix: /open}\n    upstream: app\n"},
				}, stage.breaks...)
				editConfig(t, g.ConfigPath, edits...)
				if last := awaitReload(t, g, before); last.OK || !strings.Contains(last.Error, stage.want) {
					t.Fatalf("watcher's reload: ok=%v error %q, want refused with %q", last.OK, last.Error, stage.want)
				}
				if stage.post {
					status, body := g.Admin("POST", "/admin/reload", "")
					var res struct {
						OK         bool   `json:"ok"`
						Generation uint64 `json:"generation"`
						Error      string `json:"error"`
					}
					if err := json.Unmarshal(body, &res); err != nil {
						t.Fatalf("POST /admin/reload = %d %s: %v", status, body, err)
					}
					if status != 400 || res.OK || res.Generation != generation || !strings.Contains(res.Error, stage.want) {
						t.Fatalf("POST /admin/reload = %d %s, want 400, not ok, generation %d, error with %q", status, body, generation, stage.want)
					}
				}

				// Storage and routes as they were.
				if _, body := g.Admin("GET", "/admin/status", ""); statusGeneration(t, body) != generation {
					t.Errorf("generation after the refused reload: %s, want %d", body, generation)
				}
				if st, b := g.Admin("GET", "/admin/consumers/acme", ""); st != 200 {
					t.Errorf("after the refused reload GET acme = %d %s, want 200", st, b)
				}
				if st, b := g.Admin("GET", "/admin/consumers/bob", ""); st != 404 {
					t.Errorf("after the refused reload GET bob = %d %s, want 404", st, b)
				}
				if r := get(t, g.URL+"/open"); r.Status != 404 {
					t.Errorf("GET /open after the refused reload = %d, want 404 (no such route)", r.Status)
				}
				if r := get(t, g.URL+"/api"); r.Status != 401 {
					t.Errorf("GET /api without a key after the refused reload = %d, want 401", r.Status)
				}

				// Counters as they were: the next requests continue the
				// count.
				for spent < quota {
					r := call()
					if r.Status != 200 || r.Header.Get("RateLimit-Remaining") != fmt.Sprint(routeLimit-spent) {
						t.Fatalf("request %d after the refused reload = %d %s, RateLimit-Remaining %q, want 200, %d (the route's bucket goes on)",
							spent, r.Status, r.Body, r.Header.Get("RateLimit-Remaining"), routeLimit-spent)
					}
				}
				if r := call(); r.Status != 429 || r.gwError(t).Error != "quota_exceeded" {
					t.Fatalf("request %d after the refused reload = %d %s, want 429 quota_exceeded (the quota of %d goes on)", spent, r.Status, r.Body, quota)
				}
			})
		}
	}
}

// editConfig applies every from → to replacement to the config file and
// writes it once, by a rename, so the watcher reloads the whole edit.
func editConfig(t *testing.T, path string, edits ...[2]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, e := range edits {
		if !strings.Contains(s, e[0]) {
			t.Fatalf("config file has no %q", e[0])
		}
		s = strings.Replace(s, e[0], e[1], 1)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// statusGeneration is the generation in an /admin/status body.
func statusGeneration(t *testing.T, body []byte) uint64 {
	t.Helper()
	var res struct {
		Generation uint64 `json:"generation"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.Generation == 0 {
		t.Fatalf("/admin/status without a generation: %s", body)
	}
	return res.Generation
}
