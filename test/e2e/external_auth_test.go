package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
	gjwt "github.com/golang-jwt/jwt/v5"
)

// authzService is an in-test forward-auth service: "Bearer good" is
// allowed as consumer acme with role admin, "Bearer slow" answers after a
// second, anything else is refused with 403 and a JSON body.
type authzService struct {
	*httptest.Server
	mu    sync.Mutex
	calls []*http.Request
}

func newAuthz(t *testing.T) *authzService {
	a := &authzService{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.calls = append(a.calls, r.Clone(r.Context()))
		a.mu.Unlock()
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("X-User-Role", "admin")
			w.Header().Set("X-Consumer-ID", "acme")
			w.Header().Set("X-Not-Listed", "leak")
			w.WriteHeader(http.StatusNoContent)
		case "Bearer slow":
			select {
			case <-time.After(time.Second):
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusOK)
		case "Bearer broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Authz-Reason", "policy")
			w.Header().Set("Connection", "X-Hop")
			w.Header().Set("X-Hop", "must not pass")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"denied":"not in policy"}`)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authzService) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

func (a *authzService) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[len(a.calls)-1]
}

func externalGateway(t *testing.T) (*testkit.Gantry, *testkit.Echo, *authzService) {
	e := testkit.NewEcho(t, "app")
	a := newAuthz(t)
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  jwt:
    - name: corp
      secret: %q
      algorithms: [HS256]
  external:
    - name: authz
      url: %q
      timeout: 200ms
      forward_headers: [Authorization, Cookie]
      response_headers: [X-Consumer-ID, X-User-Role]
    - name: lenient
      url: %q
      timeout: 200ms
      forward_headers: [Authorization]
      response_headers: [X-User-Role]
      on_failure: allow
    - name: cached
      url: %q
      timeout: 200ms
      forward_headers: [Authorization]
      response_headers: [X-User-Role]
      cache: 5s
consumers:
  - id: acme
    jwt_subjects: [client-acme]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: ext
    match: {path_prefix: /ext}
    strip_prefix: /ext
    upstream: app
    auth: ["external:authz"]
  - name: lenient
    match: {path_prefix: /lenient}
    upstream: app
    auth: ["external:lenient"]
  - name: cached
    match: {path_prefix: /cached}
    upstream: app
    auth: ["external:cached"]
  - name: both
    match: {path_prefix: /both}
    upstream: app
    auth: ["jwt:corp", "external:authz"]
  - name: open
    match: {path_prefix: /open}
    upstream: app
`, jwtSecret, a.URL+"/check", a.URL+"/check", a.URL+"/check", e.URL)))
	return g, e, a
}

func TestExternalAuthAllow(t *testing.T) {
	g, e, a := externalGateway(t)
	res := do(t, "POST", g.URL+"/ext/orders/7?expand=items", "{}", "Authorization: Bearer good",
		"X-User-Role: forged", "x-user-role: forged-too", "X-Forwarded-Uri: /public", "X-Other: secret")
	if res.Status != 200 {
		t.Fatalf("status = %d, want 200 (body %s)", res.Status, res.Body)
	}
	seen := res.seen(t)
	if got := seen.Header["X-User-Role"]; len(got) != 1 || got[0] != "admin" {
		t.Errorf("upstream X-User-Role = %q, want [admin] (the service's, never the client's)", got)
	}
	if got := seen.Header["X-Consumer-Id"]; len(got) != 1 || got[0] != "acme" {
		t.Errorf("upstream X-Consumer-Id = %q, want [acme]", got)
	}
	if got := seen.Header["X-Not-Listed"]; got != nil {
		t.Errorf("upstream X-Not-Listed = %q: only response_headers are copied", got)
	}
	if seen.Path != "/orders/7" || seen.Query != "expand=items" {
		t.Errorf("upstream got %s?%s, want /orders/7?expand=items", seen.Path, seen.Query)
	}
	req := a.last()
	for name, want := range map[string]string{
		"X-Forwarded-Method": "POST",
		// The client's path, not the upstream's after strip_prefix.
		"X-Forwarded-Uri":   "/ext/orders/7?expand=items",
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"Authorization":     "Bearer good",
	} {
		if got := req.Header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("service got %s = %q, want %q", name, got, want)
		}
	}
	if req.Method != "GET" || req.URL.Path != "/check" || req.ContentLength != 0 {
		t.Errorf("service got %s %s (length %d), want GET /check without a body", req.Method, req.URL.Path, req.ContentLength)
	}
	if req.Header.Get("X-Forwarded-Host") == "" {
		t.Errorf("service got no X-Forwarded-Host")
	}
	if v := req.Header.Get("X-Other"); v != "" {
		t.Errorf("service got X-Other %q: only forward_headers are sent", v)
	}
	// A public route never lets a client's copy of a response header
	// through.
	seen = get(t, g.URL+"/open/x", "X-User-Role: admin").seen(t)
	if got := seen.Header["X-User-Role"]; got != nil {
		t.Errorf("public route forwarded X-User-Role %q", got)
	}
	if e.Count() != 2 {
		t.Errorf("upstream requests = %d, want 2", e.Count())
	}
}

func TestExternalAuthDeny(t *testing.T) {
	g, e, a := externalGateway(t)
	res := get(t, g.URL+"/ext/orders", "Authorization: Bearer bad")
	if res.Status != 403 {
		t.Fatalf("status = %d, want the service's 403", res.Status)
	}
	if string(res.Body) != `{"denied":"not in policy"}` {
		t.Errorf("body = %q, want the service's", res.Body)
	}
	if got := res.Header.Get("X-Authz-Reason"); got != "policy" {
		t.Errorf("X-Authz-Reason = %q, want policy", got)
	}
	if got := res.Header.Get("X-Hop"); got != "" {
		t.Errorf("hop-by-hop X-Hop = %q reached the client", got)
	}
	if got := res.Header.Values("X-Request-Id"); len(got) != 1 {
		t.Errorf("X-Request-Id = %q, want the gateway's one", got)
	}
	// Without any credential the service decides too.
	if res := get(t, g.URL+"/ext/orders"); res.Status != 403 {
		t.Errorf("no credential: status = %d, want 403", res.Status)
	}
	if e.Count() != 0 {
		t.Errorf("upstream requests = %d, want 0", e.Count())
	}
	if a.count() != 2 {
		t.Errorf("service calls = %d, want 2", a.count())
	}
	ss, _ := metricsOf(t, g)
	if v, _ := value(ss, "gantry_auth_failures_total", "route", "ext", "method", "external", "reason", "denied"); v != 2 {
		t.Errorf("gantry_auth_failures_total{route=ext,method=external,reason=denied} = %v, want 2", v)
	}
}

func TestExternalAuthFailure(t *testing.T) {
	g, e, _ := externalGateway(t)
	for _, cred := range []string{"Bearer slow", "Bearer broken"} {
		start := time.Now()
		res := get(t, g.URL+"/ext/orders", "Authorization: "+cred)
		if res.Status != 503 {
			t.Fatalf("%s, on_failure deny: status = %d, want 503", cred, res.Status)
		}
		if got := res.gwError(t).Error; got != "auth_unavailable" {
			t.Errorf("%s, on_failure deny: error = %q, want auth_unavailable", cred, got)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("%s: answered after %v, want about the 200ms timeout", cred, d)
		}
		res = get(t, g.URL+"/lenient/orders", "Authorization: "+cred)
		if res.Status != 200 {
			t.Fatalf("%s, on_failure allow: status = %d, want 200", cred, res.Status)
		}
		if got := res.seen(t).Header["X-User-Role"]; got != nil {
			t.Errorf("%s, on_failure allow: upstream X-User-Role = %q, want none", cred, got)
		}
	}
	if e.Count() != 2 {
		t.Errorf("upstream requests = %d, want 2 (the on_failure allow ones)", e.Count())
	}
}

func TestExternalAuthCache(t *testing.T) {
	g, e, a := externalGateway(t)
	for i := 0; i < 2; i++ {
		res := get(t, g.URL+"/cached/a?x=1", "Authorization: Bearer good")
		if res.Status != 200 || res.seen(t).Header["X-User-Role"][0] != "admin" {
			t.Fatalf("request %d: status %d body %s", i, res.Status, res.Body)
		}
	}
	if a.count() != 1 {
		t.Errorf("service calls for two identical requests = %d, want 1 (cached)", a.count())
	}
	// Another credential, path or query is another question.
	get(t, g.URL+"/cached/a?x=2", "Authorization: Bearer good")
	for i := 0; i < 2; i++ {
		if res := get(t, g.URL+"/cached/a?x=1", "Authorization: Bearer bad"); res.Status != 403 || string(res.Body) != `{"denied":"not in policy"}` {
			t.Fatalf("refusal %d: status %d body %q", i, res.Status, res.Body)
		}
	}
	if a.count() != 3 {
		t.Errorf("service calls = %d, want 3 (refusals are cached too)", a.count())
	}
	// 5xx and timeouts are never cached.
	for i := 0; i < 2; i++ {
		get(t, g.URL+"/cached/a", "Authorization: Bearer broken")
	}
	if a.count() != 5 {
		t.Errorf("service calls = %d, want 5 (a 5xx is not cached)", a.count())
	}
	if e.Count() != 3 {
		t.Errorf("upstream requests = %d, want 3", e.Count())
	}
	ss, _ := metricsOf(t, g)
	for result, want := range map[string]float64{"allowed": 2, "denied": 1, "cached": 2, "unavailable": 2} {
		if v, _ := value(ss, "gantry_external_auth_total", "service", "cached", "result", result); v != want {
			t.Errorf("gantry_external_auth_total{service=cached,result=%s} = %v, want %v", result, v, want)
		}
	}
}

func TestExternalAuthWithJWT(t *testing.T) {
	g, e, a := externalGateway(t)
	// The credential methods decide first: no token, no question asked.
	res := get(t, g.URL+"/both/x")
	if res.Status != 401 || a.count() != 0 {
		t.Fatalf("no token: status %d, service calls %d; want 401 and 0", res.Status, a.count())
	}
	tok, err := gjwt.NewWithClaims(gjwt.SigningMethodHS256, gjwt.MapClaims{"sub": "client-acme", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	res = get(t, g.URL+"/both/x", "Authorization: Bearer "+tok)
	if res.Status != 403 || a.count() != 1 {
		t.Fatalf("valid token the service refuses: status %d, service calls %d; want 403 and 1", res.Status, a.count())
	}
	if got := a.last().Header.Get("X-Consumer-Id"); got != "acme" {
		t.Errorf("service got X-Consumer-Id %q, want acme (the token's consumer)", got)
	}
	if e.Count() != 0 {
		t.Errorf("upstream requests = %d, want 0", e.Count())
	}
}
