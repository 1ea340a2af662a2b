package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// uiAPI serves the admin API with the dashboard on, over a SQLite store
// holding the consumer acme.
func uiAPI(t *testing.T, token string, ui bool) http.Handler {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateConsumer(t.Context(), store.Consumer{ID: "acme", Groups: []string{}}); err != nil {
		t.Fatal(err)
	}
	m := telemetry.NewMetrics()
	m.Route("orders").Observe("GET", 200, 3*time.Millisecond)
	return Handler(Options{Store: st, Token: token, UI: ui, Gatherer: m.Registry(), Listen: "127.0.0.1:9080"})
}

type call struct {
	method, target, body string
	header               map[string]string
	cookie               *http.Cookie
}

func do(t *testing.T, h http.Handler, c call) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req := httptest.NewRequest(c.method, "http://127.0.0.1:9080"+c.target, body)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// signInUI signs in with the token and returns the cookie and CSRF token.
func signInUI(t *testing.T, h http.Handler) (*http.Cookie, string) {
	t.Helper()
	res, body := do(t, h, call{method: "POST", target: "/admin/session", body: `{"token":"` + testToken + `"}`})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /admin/session = %d %s, want 201", res.StatusCode, body)
	}
	var v sessionView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	cs := res.Cookies()
	if len(cs) != 1 || v.CSRFToken == "" || !v.SignedIn || !v.TokenRequired {
		t.Fatalf("sign-in = %s with cookies %v, want a session and a CSRF token", body, cs)
	}
	c := cs[0]
	if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
		t.Errorf("cookie = %+v, want %s, HttpOnly, SameSite=Strict, not Secure on plain HTTP", c, sessionCookie)
	}
	return c, v.CSRFToken
}

func TestUISessionAuth(t *testing.T) {
	h := uiAPI(t, testToken, true)
	cookie, csrf := signInUI(t, h)
	_, otherCSRF := signInUI(t, h)
	tests := []struct {
		name       string
		call       call
		wantStatus int
		wantError  string
	}{
		{name: "wrong token", call: call{method: "POST", target: "/admin/session", body: `{"token":"guess"}`}, wantStatus: 401, wantError: "unauthorized"},
		{name: "sign-in as a form", call: call{method: "POST", target: "/admin/session", body: `{"token":"` + testToken + `"}`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, wantStatus: 415},
		{name: "sign-in from a foreign page", call: call{method: "POST", target: "/admin/session", body: `{"token":"` + testToken + `"}`, header: map[string]string{"Origin": "https://evil.example"}}, wantStatus: 403, wantError: "forbidden"},
		{name: "read with the cookie", call: call{method: "GET", target: "/admin/consumers", cookie: cookie}, wantStatus: 200},
		{name: "read without anything", call: call{method: "GET", target: "/admin/consumers"}, wantStatus: 401, wantError: "unauthorized"},
		{name: "forged cookie", call: call{method: "GET", target: "/admin/consumers", cookie: &http.Cookie{Name: sessionCookie, Value: "forged"}}, wantStatus: 401, wantError: "unauthorized"},
		{name: "write without the CSRF token", call: call{method: "POST", target: "/admin/consumers", body: `{"id":"initech"}`, cookie: cookie}, wantStatus: 403, wantError: "csrf_failed"},
		{name: "key without the CSRF token", call: call{method: "POST", target: "/admin/consumers/acme/keys", cookie: cookie}, wantStatus: 403, wantError: "csrf_failed"},
		{name: "write with another session's CSRF token", call: call{method: "POST", target: "/admin/consumers", body: `{"id":"initech"}`, cookie: cookie, header: map[string]string{"X-CSRF-Token": otherCSRF}}, wantStatus: 403, wantError: "csrf_failed"},
		{name: "delete without the CSRF token", call: call{method: "DELETE", target: "/admin/consumers/acme", cookie: cookie}, wantStatus: 403, wantError: "csrf_failed"},
		{name: "reload without the CSRF token", call: call{method: "POST", target: "/admin/reload", cookie: cookie}, wantStatus: 403, wantError: "csrf_failed"},
		{name: "a wrong bearer token is not excused by the cookie", call: call{method: "GET", target: "/admin/consumers", cookie: cookie, header: map[string]string{"Authorization": "Bearer guess"}}, wantStatus: 401, wantError: "unauthorized"},
		{name: "write with the CSRF token", call: call{method: "POST", target: "/admin/consumers", body: `{"id":"globex"}`, cookie: cookie, header: map[string]string{"X-CSRF-Token": csrf}}, wantStatus: 201},
		{name: "the bearer token needs no CSRF token", call: call{method: "POST", target: "/admin/consumers", body: `{"id":"umbrella"}`, header: map[string]string{"Authorization": "Bearer " + testToken}}, wantStatus: 201},
		{name: "sign-out without the CSRF token", call: call{method: "DELETE", target: "/admin/session", cookie: cookie}, wantStatus: 403, wantError: "csrf_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, h, tt.call)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s = %d %s, want %d", tt.call.method, tt.call.target, res.StatusCode, body, tt.wantStatus)
			}
			if tt.wantError != "" && !strings.Contains(body, `"error": "`+tt.wantError+`"`) {
				t.Errorf("body = %s, want error %q", body, tt.wantError)
			}
			if tt.wantStatus >= 400 && len(res.Cookies()) != 0 {
				t.Errorf("a refused request set cookies %v", res.Cookies())
			}
		})
	}

	// Only the two writes that passed created consumers; acme is still there.
	res, body := do(t, h, call{method: "GET", target: "/admin/consumers", cookie: cookie})
	var v struct{ Consumers []store.Consumer }
	if err := json.Unmarshal([]byte(body), &v); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET consumers = %d %s", res.StatusCode, body)
	}
	var ids []string
	for _, c := range v.Consumers {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "acme,globex,umbrella" {
		t.Errorf("consumers after the calls = %s, want acme,globex,umbrella (refused writes must change nothing)", got)
	}

	res, body = do(t, h, call{method: "GET", target: "/admin/session", cookie: cookie})
	if res.StatusCode != 200 || !strings.Contains(body, `"csrf_token": "`+csrf+`"`) {
		t.Errorf("GET /admin/session with the cookie = %d %s, want its CSRF token", res.StatusCode, body)
	}
	res, body = do(t, h, call{method: "DELETE", target: "/admin/session", cookie: cookie, header: map[string]string{"X-CSRF-Token": csrf}})
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /admin/session = %d %s, want 204", res.StatusCode, body)
	}
	if res, body := do(t, h, call{method: "GET", target: "/admin/consumers", cookie: cookie}); res.StatusCode != 401 {
		t.Errorf("GET with the cookie after sign-out = %d %s, want 401", res.StatusCode, body)
	}
	if _, body := do(t, h, call{method: "GET", target: "/admin/session", cookie: cookie}); !strings.Contains(body, `"signed_in": false`) || !strings.Contains(body, `"token_required": true`) {
		t.Errorf("GET /admin/session after sign-out = %s, want signed_in false", body)
	}
}

func TestUISignInThrottled(t *testing.T) {
	h := uiAPI(t, testToken, true)
	for i := range signInFailures {
		if res, body := do(t, h, call{method: "POST", target: "/admin/session", body: `{"token":"guess"}`}); res.StatusCode != 401 {
			t.Fatalf("wrong token #%d = %d %s, want 401", i+1, res.StatusCode, body)
		}
	}
	// Locked out, the right token too: guessing must not go on.
	res, body := do(t, h, call{method: "POST", target: "/admin/session", body: `{"token":"` + testToken + `"}`})
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "too_many_attempts") || res.Header.Get("Retry-After") == "" || len(res.Cookies()) != 0 {
		t.Errorf("sign-in after %d wrong tokens = %d %s (Retry-After %q), want 429 too_many_attempts and no cookie", signInFailures, res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	// Another address is not locked out.
	req := httptest.NewRequest("POST", "http://127.0.0.1:9080/admin/session", strings.NewReader(`{"token":"`+testToken+`"}`))
	req.RemoteAddr = "127.0.0.2:40000"
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Errorf("sign-in from another address = %d, want 201", rec.Code)
	}
}

func TestUIWithoutToken(t *testing.T) {
	h := uiAPI(t, "", true)
	res, body := do(t, h, call{method: "GET", target: "/admin/session"})
	if res.StatusCode != 200 || !strings.Contains(body, `"token_required": false`) {
		t.Errorf("GET /admin/session without a token = %d %s, want token_required false", res.StatusCode, body)
	}
	res, body = do(t, h, call{method: "POST", target: "/admin/session", body: `{"token":"x"}`})
	if res.StatusCode != http.StatusConflict || len(res.Cookies()) != 0 {
		t.Errorf("POST /admin/session without a token = %d %s, want 409 and no cookie", res.StatusCode, body)
	}
	// The guard still applies: a foreign page cannot write.
	res, body = do(t, h, call{method: "POST", target: "/admin/consumers", body: `{"id":"initech"}`, header: map[string]string{"Origin": "http://evil.example"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a write from a foreign Origin = %d %s, want 403", res.StatusCode, body)
	}
}

func TestUIAssets(t *testing.T) {
	tests := []struct {
		name, target string
		ui           bool
		wantStatus   int
		wantType     string
	}{
		{name: "index", target: "/ui/", ui: true, wantStatus: 200, wantType: "text/html; charset=utf-8"},
		{name: "redirect to the index", target: "/ui", ui: true, wantStatus: 307},
		{name: "a module", target: "/ui/dashboard/app.js", ui: true, wantStatus: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "uPlot", target: "/ui/common/vendor/uPlot.esm.js", ui: true, wantStatus: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "a directory", target: "/ui/common/", ui: true, wantStatus: 404},
		{name: "no such file", target: "/ui/dashboard/nope.js", ui: true, wantStatus: 404},
		{name: "off", target: "/ui/", ui: false, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := uiAPI(t, testToken, tt.ui)
			res, body := do(t, h, call{method: "GET", target: tt.target})
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d: %.200s", tt.target, res.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != 200 {
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.wantType)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy = %q, want own-origin scripts and no framing", csp)
			}
		})
	}
	// With the dashboard off, /admin/session is an unknown admin path.
	h := uiAPI(t, testToken, false)
	if res, _ := do(t, h, call{method: "POST", target: "/admin/session", body: `{"token":"` + testToken + `"}`}); res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Errorf("POST /admin/session with admin.ui off = %d, want 401 and no cookie", res.StatusCode)
	}
	if res, _ := do(t, h, call{method: "GET", target: "/admin/session", header: map[string]string{"Authorization": "Bearer " + testToken}}); res.StatusCode != 404 {
		t.Errorf("GET /admin/session with admin.ui off and the token = %d, want 404", res.StatusCode)
	}
	// A foreign Host cannot load the dashboard (DNS rebinding).
	req := httptest.NewRequest("GET", "http://evil.example:9080/ui/", nil)
	rec := httptest.NewRecorder()
	uiAPI(t, testToken, true).ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("GET /ui/ with a foreign Host = %d, want 403", rec.Code)
	}
}

func TestMetricsSummary(t *testing.T) {
	h := uiAPI(t, testToken, false)
	res, body := get(t, h, "/admin/metrics/summary")
	if res.StatusCode != 200 {
		t.Fatalf("GET /admin/metrics/summary = %d %s", res.StatusCode, body)
	}
	var s telemetry.Summary
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != 1 || s.Duration.Count != 1 || len(s.Routes) == 0 {
		t.Errorf("summary = %s, want the one request on orders", body)
	}
	if res, _ := do(t, h, call{method: "GET", target: "/admin/metrics/summary"}); res.StatusCode != 401 {
		t.Errorf("GET /admin/metrics/summary without the token = %d, want 401", res.StatusCode)
	}
}
