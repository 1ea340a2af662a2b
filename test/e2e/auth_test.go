package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
	gjwt "github.com/golang-jwt/jwt/v5"
)

const jwtSecret = "0123456789abcdef0123456789abcdef-e2e-secret"

func authGateway(t *testing.T) (*testkit.Gantry, *testkit.Echo) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  api_key: {header: X-API-Key}
  jwt:
    - name: corp
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
      forward_claims: {sub: X-User-Sub}
plans:
  free: {}
consumers:
  - id: acme
    groups: [partners]
    jwt_subjects: [client-acme]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: open
    match: {path_prefix: /open}
    upstream: app
  - name: keyed
    match: {path_prefix: /keyed}
    upstream: app
    auth: [api_key, jwt:corp]
  - name: partners
    match: {path_prefix: /partners}
    upstream: app
    auth: [api_key, jwt:corp]
    allow_groups: [partners]
`, jwtSecret, e.URL)))
	return g, e
}

func adminJSON(t *testing.T, g *testkit.Gantry, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, g.AdminURL+path, strings.NewReader(body))
	if body != "" {
		// The admin API takes JSON bodies only.
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestAPIKeyLifecycle(t *testing.T) {
	g, e := authGateway(t)
	if status, _ := adminJSON(t, g, "POST", "/admin/consumers", `{"id": "globex", "plan": "free", "groups": ["trial"]}`); status != 201 {
		t.Fatalf("create consumer: %d", status)
	}
	status, k := adminJSON(t, g, "POST", "/admin/consumers/globex/keys", "")
	if status != 201 || k["key"] == nil || k["id"] == nil {
		t.Fatalf("create key: %d %v", status, k)
	}
	key, keyID := k["key"].(string), k["id"].(string)

	r := get(t, g.URL+"/keyed/x", "X-API-Key: "+key, "X-Consumer-ID: admin", "x-consumer-groups: root", "Connection: X-Consumer-ID, X-Consumer-Groups")
	if r.Status != 200 {
		t.Fatalf("with a fresh key: %d %s", r.Status, r.Body)
	}
	h := http.Header(r.seen(t).Header)
	if h.Get("X-Consumer-ID") != "globex" || h.Get("X-Consumer-Groups") != "trial" || h.Get("X-API-Key") != "" {
		t.Fatalf("upstream headers: consumer %q groups %q key %q", h.Get("X-Consumer-ID"), h.Get("X-Consumer-Groups"), h.Get("X-API-Key"))
	}
	if r := get(t, g.URL+"/keyed/x"); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" || r.gwError(t).Error != "unauthorized" {
		t.Fatalf("without key: %d %v", r.Status, r.Header)
	}
	if r := get(t, g.URL+"/keyed/x", "X-API-Key: gk_wrong"); r.Status != 401 {
		t.Fatalf("wrong key: %d", r.Status)
	}
	if r := get(t, g.URL+"/partners/x", "X-API-Key: "+key); r.Status != 403 || r.gwError(t).Error != "forbidden" {
		t.Fatalf("not in allow_groups: %d", r.Status)
	}
	if r := get(t, g.URL+"/open/x", "X-Consumer-ID: admin"); http.Header(r.seen(t).Header).Get("X-Consumer-ID") != "" {
		t.Fatal("spoofed X-Consumer-ID reached the upstream on a public route")
	}
	before := e.Count()
	if status, _ := adminJSON(t, g, "DELETE", "/admin/consumers/globex/keys/"+keyID, ""); status != 204 {
		t.Fatalf("revoke: %d", status)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for {
		r := get(t, g.URL+"/keyed/x", "X-API-Key: "+key)
		if r.Status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted after 1.5s: %d", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = before
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(g.Stdout(), key) || strings.Contains(g.Stderr(), key) {
		t.Fatal("the API key appears in the logs")
	}
	if status, m := adminJSON(t, g, "GET", "/admin/consumers/globex", ""); status != 200 || m["id"] != "globex" {
		t.Fatalf("get consumer: %d %v", status, m)
	}
	if status, _ := adminJSON(t, g, "DELETE", "/admin/consumers/acme", ""); status != 409 {
		t.Fatalf("deleting a config consumer: %d, want 409", status)
	}
}

func TestJWTAuth(t *testing.T) {
	g, _ := authGateway(t)
	sign := func(claims gjwt.MapClaims, method gjwt.SigningMethod, key any) string {
		s, err := gjwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	good := gjwt.MapClaims{"iss": "https://id.example.com/", "aud": "orders-api", "sub": "client-acme", "exp": now.Add(time.Hour).Unix()}
	r := get(t, g.URL+"/partners/x", "Authorization: Bearer "+sign(good, gjwt.SigningMethodHS256, []byte(jwtSecret)), "X-User-Sub: forged")
	if r.Status != 200 {
		t.Fatalf("good token: %d %s", r.Status, r.Body)
	}
	h := http.Header(r.seen(t).Header)
	if h.Get("X-Consumer-ID") != "acme" || h.Get("X-User-Sub") != "client-acme" {
		t.Fatalf("upstream consumer %q sub %q", h.Get("X-Consumer-ID"), h.Values("X-User-Sub"))
	}
	bad := []gjwt.MapClaims{
		{"iss": "https://id.example.com/", "aud": "orders-api", "sub": "client-acme", "exp": now.Add(-time.Hour).Unix()},
		{"iss": "https://evil.example/", "aud": "orders-api", "sub": "client-acme", "exp": now.Add(time.Hour).Unix()},
		{"iss": "https://id.example.com/", "aud": "other", "sub": "client-acme", "exp": now.Add(time.Hour).Unix()},
		{"iss": "https://id.example.com/", "aud": "orders-api", "sub": "client-acme"},
	}
	for i, c := range bad {
		if r := get(t, g.URL+"/keyed/x", "Authorization: Bearer "+sign(c, gjwt.SigningMethodHS256, []byte(jwtSecret))); r.Status != 401 {
			t.Errorf("bad token %d: %d", i, r.Status)
		}
	}
	none := sign(good, gjwt.SigningMethodNone, gjwt.UnsafeAllowNoneSignatureType)
	if r := get(t, g.URL+"/keyed/x", "Authorization: Bearer "+none); r.Status != 401 {
		t.Errorf("alg none: %d", r.Status)
	}
}
