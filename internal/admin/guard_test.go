package admin

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
)

// guardedAPI serves the admin API bound to 127.0.0.1:9080, configured as
// "gantry-admin:9080", over an empty SQLite store.
func guardedAPI(t *testing.T, token string) (http.Handler, store.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "gantry_up 1\n") })
	return Handler(Options{
		Gateway:        &server.Server{},
		Store:          st,
		Token:          token,
		Metrics:        metrics,
		Listen:         "gantry-admin:9080",
		Addr:           &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9080},
		AllowedHosts:   []string{"admin.example.com", "ops.example.com:8443", "[fd00::7]"},
		AllowedOrigins: []string{"https://console.example.com"},
	}), st
}

type adminCall struct {
	method, target, host string
	header               map[string]string
	body                 string
}

func (c adminCall) do(h http.Handler) *httptest.ResponseRecorder {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	req := httptest.NewRequest(method, c.target, body)
	req.Host = c.host
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestGuardHost(t *testing.T) {
	t.Parallel()
	h, _ := guardedAPI(t, "")
	tests := []struct {
		host   string
		target string
		want   int
	}{
		{"127.0.0.1:9080", "/admin/consumers", 200},
		{"127.0.0.1", "/admin/consumers", 200},
		{"localhost:9080", "/admin/consumers", 200},
		{"LocalHost.:9080", "/admin/consumers", 200},
		{"[::1]:9080", "/admin/consumers", 200},
		{"[::1]", "/admin/consumers", 200},
		{"gantry-admin:9080", "/admin/consumers", 200},
		{"admin.example.com", "/admin/consumers", 200},
		{"admin.example.com:443", "/admin/consumers", 200},
		{"ops.example.com:8443", "/admin/consumers", 200},
		{"[fd00::7]:9080", "/admin/consumers", 200},
		{"ops.example.com", "/admin/consumers", 403},
		{"ops.example.com:9080", "/admin/consumers", 403},
		{"evil.example", "/admin/config", 403},
		{"evil.example:9080", "/admin/consumers", 403},
		{"127.0.0.1.evil.example", "/admin/consumers", 403},
		{"localhost.evil.example", "/admin/consumers", 403},
		{"10.0.0.8:9080", "/admin/consumers", 403},
		{"", "/admin/consumers", 403},
		{"localhost:x", "/admin/consumers", 403},
		{"localhost:99999", "/admin/consumers", 403},
		{"[::1", "/admin/consumers", 403},
		{"evil.example", "/admin/nowhere", 403},
		{"evil.example", "/elsewhere", 403},
		// Health and metrics stay open to any Host.
		{"evil.example", "/healthz", 200},
		{"10.0.0.8:9080", "/metrics", 200},
		{"", "/healthz", 200},
	}
	for _, tt := range tests {
		rec := adminCall{target: tt.target, host: tt.host}.do(h)
		if rec.Code != tt.want {
			t.Errorf("GET %s with Host %q = %d %s, want %d", tt.target, tt.host, rec.Code, rec.Body, tt.want)
		}
		if tt.want == 403 && !strings.Contains(rec.Body.String(), `"error": "forbidden"`) || tt.want == 403 && !strings.Contains(rec.Body.String(), "host not allowed") {
			t.Errorf("GET %s with Host %q: body %s, want forbidden, host not allowed", tt.target, tt.host, rec.Body)
		}
	}
}

func TestGuardOrigin(t *testing.T) {
	t.Parallel()
	h, _ := guardedAPI(t, "")
	tests := []struct {
		origin, host string
		want         int
	}{
		{"http://localhost:9080", "localhost:9080", 200},
		{"http://LOCALHOST:9080", "localhost:9080", 200},
		{"http://127.0.0.1:9080", "localhost:9080", 200},
		{"http://admin.example.com", "admin.example.com", 200},
		{"http://admin.example.com:9080", "admin.example.com", 200},
		{"https://console.example.com", "localhost:9080", 200},
		{"https://console.example.com:443", "localhost:9080", 200},
		{"http://evil.example", "localhost:9080", 403},
		{"http://localhost:3000", "localhost:9080", 403},
		{"http://localhost", "localhost:9080", 403},
		{"https://localhost:9080", "localhost:9080", 403},
		{"http://console.example.com", "localhost:9080", 403},
		{"null", "localhost:9080", 403},
		{"", "localhost:9080", 403},
		{"http://localhost:9080/path", "localhost:9080", 403},
	}
	for _, tt := range tests {
		rec := adminCall{target: "/admin/consumers", host: tt.host, header: map[string]string{"Origin": tt.origin}}.do(h)
		if rec.Code != tt.want {
			t.Errorf("GET /admin/consumers with Origin %q, Host %q = %d %s, want %d", tt.origin, tt.host, rec.Code, rec.Body, tt.want)
		}
	}
	// Health stays open to pages too: it says nothing.
	if rec := (adminCall{target: "/readyz", host: "localhost", header: map[string]string{"Origin": "http://evil.example"}}).do(h); rec.Code == 403 {
		t.Errorf("GET /readyz with a foreign Origin = 403, want it open")
	}
}

func TestGuardWrites(t *testing.T) {
	t.Parallel()
	const consumer = `{"id": "globex"}`
	tests := []struct {
		name   string
		token  string
		call   adminCall
		want   int
		wantIn string
	}{
		{name: "text/plain", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "text/plain"}, body: consumer}, want: 415, wantIn: "unsupported_media_type"},
		{name: "form", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: consumer}, want: 415},
		{name: "no Content-Type", call: adminCall{method: "POST", target: "/admin/consumers", body: consumer}, want: 415},
		{name: "a JSON-like type", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "application/jsonx"}, body: consumer}, want: 415},
		{name: "foreign Origin", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, body: consumer}, want: 403, wantIn: "origin not allowed"},
		{name: "foreign Origin with JSON", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, body: consumer}, want: 403},
		{name: "foreign Host", call: adminCall{method: "POST", target: "/admin/consumers", host: "evil.example:9080", header: map[string]string{"Content-Type": "application/json"}, body: consumer}, want: 403, wantIn: "host not allowed"},
		{name: "JSON", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "application/json"}, body: consumer}, want: 201},
		{name: "JSON with charset", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "Application/JSON; charset=utf-8"}, body: consumer}, want: 201},
		{name: "JSON from the admin's own origin", call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:9080"}, body: consumer}, want: 201},
		{name: "token checked first", token: testToken, call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "text/plain"}, body: consumer}, want: 401},
		{name: "token then media type", token: testToken, call: adminCall{method: "POST", target: "/admin/consumers", header: map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + testToken}, body: consumer}, want: 415},
		{name: "token does not excuse the Host", token: testToken, call: adminCall{method: "GET", target: "/admin/config", host: "evil.example", header: map[string]string{"Authorization": "Bearer " + testToken}}, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, st := guardedAPI(t, tt.token)
			if tt.call.host == "" {
				tt.call.host = "127.0.0.1:9080"
			}
			rec := tt.call.do(h)
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantIn) {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.call.method, tt.call.target, rec.Code, rec.Body, tt.want, tt.wantIn)
			}
			if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("error Content-Type = %q, want application/json", rec.Header().Get("Content-Type"))
			}
			cs, err := st.ListConsumers(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if created := len(cs) == 1; created != (tt.want == 201) {
				t.Errorf("consumers after the call: %v, want created = %v", cs, tt.want == 201)
			}
		})
	}
}

// TestGuardKeys: minting a key needs no body, but a body must be JSON.
func TestGuardKeys(t *testing.T) {
	t.Parallel()
	h, st := guardedAPI(t, "")
	if err := st.CreateConsumer(t.Context(), store.Consumer{ID: "acme", Groups: []string{}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call adminCall
		want int
	}{
		{"text/plain body", adminCall{method: "POST", header: map[string]string{"Content-Type": "text/plain"}, body: "x"}, 415},
		{"foreign Origin, no body", adminCall{method: "POST", header: map[string]string{"Origin": "http://evil.example"}}, 403},
		{"foreign Host, no body", adminCall{method: "POST", host: "evil.example"}, 403},
		{"no body", adminCall{method: "POST"}, 201},
		{"JSON body", adminCall{method: "POST", header: map[string]string{"Content-Type": "application/json"}, body: "{}"}, 201},
	}
	minted := 0
	for _, tt := range tests {
		tt.call.target = "/admin/consumers/acme/keys"
		if tt.call.host == "" {
			tt.call.host = "localhost:9080"
		}
		rec := tt.call.do(h)
		if rec.Code != tt.want {
			t.Errorf("%s: POST %s = %d %s, want %d", tt.name, tt.call.target, rec.Code, rec.Body, tt.want)
		}
		if tt.want == 201 {
			minted++
		}
		keys, err := st.ListKeys(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != minted {
			t.Errorf("%s: %d keys after the call, want %d", tt.name, len(keys), minted)
		}
	}
}
