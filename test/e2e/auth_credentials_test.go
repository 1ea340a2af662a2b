package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
	gjwt "github.com/golang-jwt/jwt/v5"
)

const acmeKey = "acme-key-0123456789"

// credentialTokens returns a token signed with jwtSecret for sub, and a
// forged alg:none copy of it.
func credentialTokens(t *testing.T, sub string) (signed, forged string) {
	t.Helper()
	claims := gjwt.MapClaims{"iss": "https://id.example.com/", "aud": "orders-api", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	signed, err := gjwt.NewWithClaims(gjwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	forged, err = gjwt.NewWithClaims(gjwt.SigningMethodNone, claims).SignedString(gjwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return signed, forged
}

func credentialGateway(t *testing.T, keyHeader string) (*testkit.Gantry, *testkit.Echo) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  api_key: {header: %s}
  jwt:
    - name: corp
      issuer: https://id.example.com/
      audiences: [orders-api]
      secret: %q
      algorithms: [HS256]
      forward_claims: {sub: X-User-Sub}
consumers:
  - id: acme
    api_keys: [{key: %s}]
  - id: globex
    jwt_subjects: [client-globex]
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: both
    match: {path_prefix: /both}
    upstream: app
    auth: [api_key, jwt:corp]
  - name: jwtfirst
    match: {path_prefix: /jwtfirst}
    upstream: app
    auth: [jwt:corp, api_key]
  - name: keyonly
    match: {path_prefix: /keyonly}
    upstream: app
    auth: [api_key]
`, keyHeader, jwtSecret, acmeKey, e.URL)))
	return g, e
}

// TestCredentialsPresentedMustVerify: every credential a request presents
// must verify; a forged token beside a good key is 401 and never reaches
// the upstream (#13).
func TestCredentialsPresentedMustVerify(t *testing.T) {
	g, e := credentialGateway(t, "X-API-Key")
	signed, forged := credentialTokens(t, "client-globex")
	tampered := signed[:len(signed)-4] + "AAAA"
	tests := []struct {
		name     string
		path     string
		headers  []string
		want     int
		consumer string
		sub      string // X-User-Sub the upstream sees
		authz    string // Authorization the upstream sees
	}{
		{"good key, forged alg:none token", "/both/x", []string{"X-API-Key: " + acmeKey, "Authorization: Bearer " + forged}, 401, "", "", ""},
		{"good key, tampered token", "/both/x", []string{"X-API-Key: " + acmeKey, "Authorization: Bearer " + tampered}, 401, "", "", ""},
		{"good key, garbage bearer", "/both/x", []string{"X-API-Key: " + acmeKey, "Authorization: Bearer not-a-token"}, 401, "", "", ""},
		{"jwt first: good key, forged token", "/jwtfirst/x", []string{"X-API-Key: " + acmeKey, "Authorization: Bearer " + forged}, 401, "", "", ""},
		{"bad key, good token", "/both/x", []string{"X-API-Key: wrong-key-0123456789", "Authorization: Bearer " + signed}, 401, "", "", ""},
		{"good key alone", "/both/x", []string{"X-API-Key: " + acmeKey}, 200, "acme", "", ""},
		{"good token alone", "/both/x", []string{"Authorization: Bearer " + signed}, 200, "globex", "client-globex", "Bearer " + signed},
		{"both good: key listed first", "/both/x", []string{"X-API-Key: " + acmeKey, "Authorization: Bearer " + signed}, 200, "acme", "", "Bearer " + signed},
		{"both good: jwt listed first", "/jwtfirst/x", []string{"X-API-Key: " + acmeKey, "Authorization: Bearer " + signed}, 200, "globex", "client-globex", "Bearer " + signed},
		{"key-only route: forged token removed", "/keyonly/x", []string{"X-API-Key: " + acmeKey, "Authorization: Bearer " + forged}, 200, "acme", "", ""},
		{"key-only route: other schemes pass", "/keyonly/x", []string{"X-API-Key: " + acmeKey, "Authorization: Basic dXNlcjpwdw=="}, 200, "acme", "", "Basic dXNlcjpwdw=="},
	}
	for _, tt := range tests {
		e.Reset()
		r := get(t, g.URL+tt.path, tt.headers...)
		if r.Status != tt.want {
			t.Errorf("%s: status %d %s, want %d", tt.name, r.Status, r.Body, tt.want)
			continue
		}
		if tt.want == 401 {
			if ge := r.gwError(t); ge.Error != "unauthorized" {
				t.Errorf("%s: error %+v, want unauthorized", tt.name, ge)
			}
			if len(r.Header.Values("WWW-Authenticate")) == 0 {
				t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
			}
			if n := e.Count(); n != 0 {
				t.Errorf("%s: upstream got %d requests, want none", tt.name, n)
			}
			continue
		}
		h := http.Header(r.seen(t).Header)
		if got := h.Get("X-Consumer-ID"); got != tt.consumer {
			t.Errorf("%s: X-Consumer-ID = %q, want %q", tt.name, got, tt.consumer)
		}
		if got := h.Get("X-User-Sub"); got != tt.sub {
			t.Errorf("%s: X-User-Sub = %q, want %q", tt.name, got, tt.sub)
		}
		if got := strings.Join(h.Values("Authorization"), "|"); got != tt.authz {
			t.Errorf("%s: upstream Authorization = %q, want %q", tt.name, got, tt.authz)
		}
		if got := h.Get("X-API-Key"); got != "" {
			t.Errorf("%s: the API key reached the upstream", tt.name)
		}
	}
}

// TestCredentialsKeyInAuthorization: with auth.api_key.header
// Authorization, "Bearer <key>" is the API key, never taken for a token,
// and never forwarded; a JWT-shaped bearer is the token.
func TestCredentialsKeyInAuthorization(t *testing.T) {
	g, e := credentialGateway(t, "Authorization")
	signed, forged := credentialTokens(t, "client-globex")
	tests := []struct {
		name, path, authz string
		want              int
		consumer          string
		forwarded         string
	}{
		{"bearer key, jwt listed first", "/jwtfirst/x", "Bearer " + acmeKey, 200, "acme", ""},
		{"bearer key, key listed first", "/both/x", "Bearer " + acmeKey, 200, "acme", ""},
		{"bare key", "/both/x", acmeKey, 200, "acme", ""},
		{"signed token", "/jwtfirst/x", "Bearer " + signed, 200, "globex", "Bearer " + signed},
		{"forged token", "/both/x", "Bearer " + forged, 401, "", ""},
		{"forged token, key-only route", "/keyonly/x", "Bearer " + forged, 401, "", ""},
		{"wrong bearer key", "/both/x", "Bearer wrong-key-0123456789", 401, "", ""},
	}
	for _, tt := range tests {
		e.Reset()
		r := get(t, g.URL+tt.path, "Authorization: "+tt.authz)
		if r.Status != tt.want {
			t.Errorf("%s: status %d %s, want %d", tt.name, r.Status, r.Body, tt.want)
			continue
		}
		if tt.want != 200 {
			if n := e.Count(); n != 0 {
				t.Errorf("%s: upstream got %d requests, want none", tt.name, n)
			}
			continue
		}
		h := http.Header(r.seen(t).Header)
		if got := h.Get("X-Consumer-ID"); got != tt.consumer {
			t.Errorf("%s: X-Consumer-ID = %q, want %q", tt.name, got, tt.consumer)
		}
		if got := strings.Join(h.Values("Authorization"), "|"); got != tt.forwarded {
			t.Errorf("%s: upstream Authorization = %q, want %q", tt.name, got, tt.forwarded)
		}
	}
}
