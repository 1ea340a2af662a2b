package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/demo"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestAdminExposure: the admin API without a token obeys no web page (#13).
// A foreign Host (DNS rebinding) and a foreign Origin are refused with 403,
// a write whose body is not JSON with 415, and nothing is created; the
// admin's own names, health and metrics keep working.
func TestAdminExposure(t *testing.T) {
	g := testkit.Start(t, `version: 1
admin:
  listen: "127.0.0.1:0"
  allowed_hosts: [admin.example.com]
  allowed_origins: ["https://console.example.com"]
server:
  listen: "127.0.0.1:0"
`)
	adm := g.AdminURL
	port := adm[strings.LastIndexByte(adm, ':')+1:]

	t.Run("Host", func(t *testing.T) {
		tests := []struct {
			host, path string
			want       int
		}{
			{"evil.example", "/admin/config", 403},
			{"evil.example:" + port, "/admin/config", 403},
			{"evil.example", "/admin/consumers", 403},
			{"127.0.0.1.evil.example", "/admin/routes", 403},
			{"", "/admin/config", 200}, // the URL's own host:port
			{"localhost:" + port, "/admin/config", 200},
			{"127.0.0.1", "/admin/config", 200},
			{"[::1]:" + port, "/admin/config", 200},
			{"admin.example.com", "/admin/config", 200},
			{"evil.example", "/healthz", 200},
			{"evil.example", "/readyz", 200},
			{"evil.example", "/metrics", 200},
		}
		for _, tt := range tests {
			var hdr []string
			if tt.host != "" {
				hdr = append(hdr, "Host: "+tt.host)
			}
			r := get(t, adm+tt.path, hdr...)
			if r.Status != tt.want {
				t.Errorf("GET %s with Host %q = %d %s, want %d", tt.path, tt.host, r.Status, r.Body, tt.want)
				continue
			}
			if tt.want == 403 {
				if e := r.gwAdminError(t); e.Error != "forbidden" || !strings.Contains(e.Message, "host not allowed") {
					t.Errorf("GET %s with Host %q: error %+v, want forbidden, host not allowed", tt.path, tt.host, e)
				}
			}
		}
	})

	consumerExists := func(id string) bool {
		t.Helper()
		st, _ := adminJSON(t, g, "GET", "/admin/consumers/"+id, "")
		return st == 200
	}

	t.Run("writes", func(t *testing.T) {
		tests := []struct {
			name    string
			id      string
			headers []string
			want    int
			code    string
		}{
			{"text/plain", "mallory1", []string{"Content-Type: text/plain"}, 415, "unsupported_media_type"},
			{"form", "mallory2", []string{"Content-Type: application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
			{"no Content-Type", "mallory3", nil, 415, "unsupported_media_type"},
			{"text/plain from a foreign Origin", "mallory4", []string{"Content-Type: text/plain", "Origin: http://evil.example"}, 403, "forbidden"},
			{"JSON from a foreign Origin", "mallory5", []string{"Content-Type: application/json", "Origin: http://evil.example"}, 403, "forbidden"},
			{"JSON from a foreign Host", "mallory6", []string{"Content-Type: application/json", "Host: evil.example:" + port}, 403, "forbidden"},
			{"JSON from a null Origin", "mallory7", []string{"Content-Type: application/json", "Origin: null"}, 403, "forbidden"},
			{"JSON from another local port", "mallory8", []string{"Content-Type: application/json", "Origin: http://localhost:3000"}, 403, "forbidden"},
			{"JSON", "globex", []string{"Content-Type: application/json"}, 201, ""},
			{"JSON with a charset", "initech", []string{"Content-Type: application/json; charset=utf-8"}, 201, ""},
			{"JSON from the admin's own origin", "hooli", []string{"Content-Type: application/json", "Origin: http://127.0.0.1:" + port}, 201, ""},
			{"JSON from an allowed origin", "umbrella", []string{"Content-Type: application/json", "Origin: https://console.example.com"}, 201, ""},
		}
		for _, tt := range tests {
			r := do(t, http.MethodPost, adm+"/admin/consumers", `{"id": "`+tt.id+`"}`, tt.headers...)
			if r.Status != tt.want {
				t.Errorf("%s: POST /admin/consumers = %d %s, want %d", tt.name, r.Status, r.Body, tt.want)
			}
			if tt.code != "" && r.Status == tt.want {
				if e := r.gwAdminError(t); e.Error != tt.code {
					t.Errorf("%s: error %+v, want %s", tt.name, e, tt.code)
				}
			}
			if got := consumerExists(tt.id); got != (tt.want == 201) {
				t.Errorf("%s: consumer %s exists = %v, want %v", tt.name, tt.id, got, tt.want == 201)
			}
		}
	})

	t.Run("keys", func(t *testing.T) {
		keys := func() int {
			_, m := adminJSON(t, g, "GET", "/admin/consumers/globex", "")
			ks, _ := m["keys"].([]any)
			return len(ks)
		}
		tests := []struct {
			name    string
			body    string
			headers []string
			want    int
		}{
			{"text/plain from a foreign Origin", "x", []string{"Content-Type: text/plain", "Origin: http://evil.example"}, 403},
			{"no body from a foreign Origin", "", []string{"Origin: http://evil.example"}, 403},
			{"text/plain", "x", []string{"Content-Type: text/plain"}, 415},
			{"no body", "", nil, 201},
		}
		minted := 0
		for _, tt := range tests {
			r := do(t, http.MethodPost, adm+"/admin/consumers/globex/keys", tt.body, tt.headers...)
			if r.Status != tt.want {
				t.Errorf("%s: POST /admin/consumers/globex/keys = %d %s, want %d", tt.name, r.Status, r.Body, tt.want)
			}
			if tt.want == 201 {
				minted++
			}
			if n := keys(); n != minted {
				t.Errorf("%s: globex has %d keys, want %d", tt.name, n, minted)
			}
		}
	})

	t.Run("reload without a body", func(t *testing.T) {
		if r := do(t, http.MethodPost, adm+"/admin/reload", ""); r.Status != 200 {
			t.Errorf("POST /admin/reload = %d %s, want 200", r.Status, r.Body)
		}
		if r := do(t, http.MethodPost, adm+"/admin/reload", "", "Origin: http://evil.example"); r.Status != 403 {
			t.Errorf("POST /admin/reload from a foreign Origin = %d %s, want 403", r.Status, r.Body)
		}
	})

	// The demo's tour reaches the admin API by its URL: every admin line
	// gets through the guard, by Go's client and, when there is one, by
	// curl itself.
	t.Run("demo tour", func(t *testing.T) {
		curl, _ := exec.LookPath("curl")
		for _, ex := range demo.Examples(g.Addr, strings.TrimPrefix(adm, "http://")) {
			if !strings.Contains(ex.Command, adm) {
				continue
			}
			for _, f := range strings.Fields(ex.Command) {
				u := strings.Trim(f, "'")
				if !strings.HasPrefix(u, adm) {
					continue
				}
				if r := get(t, u); r.Status == 403 || r.Status == 415 {
					t.Errorf("tour %q: GET %s = %d %s", ex.What, u, r.Status, r.Body)
				}
			}
			if curl == "" {
				continue
			}
			out, err := exec.Command("sh", "-c", ex.Command).CombinedOutput()
			if strings.Contains(string(out), `"forbidden"`) || strings.Contains(string(out), `"unsupported_media_type"`) {
				t.Errorf("tour %q: %s: %v\n%s", ex.What, ex.Command, err, out)
			}
		}
	})
}

// gwAdminError is the admin API's error body: the contract's shape without
// a request ID.
func (r response) gwAdminError(t *testing.T) gatewayError {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q, want application/json (body %q)", ct, r.Body)
	}
	var e gatewayError
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Status != r.Status || e.Error == "" || e.Message == "" {
		t.Fatalf("error body %q (%v): want status, error and message", r.Body, err)
	}
	return e
}
