package jwt

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jwtv5 "github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

func TestAuthenticate(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t,
		jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"),
		jwkJSON(&ecIdP.PublicKey, "idp-ec", "ES256"),
		jwkJSON(edIdP.Public(), "idp-ed", ""),
	)
	attacker := newIdP(t, jwkJSON(&rsaEvil.PublicKey, "evil-1", "RS256"))
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now})

	now := clock.Now()
	rsaKid := map[string]any{"kid": "idp-rsa"}
	with := func(edit func(jwtv5.MapClaims)) jwtv5.MapClaims {
		c := claimsAt(now)
		edit(c)
		return c
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &rsaIdP.PublicKey)})

	tests := []struct {
		name    string
		token   string
		wantErr error // nil: authenticated
	}{
		{"RS256", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, claimsAt(now)), nil},
		{"ES256", sign(t, jwtv5.SigningMethodES256, ecIdP, map[string]any{"kid": "idp-ec"}, claimsAt(now)), nil},
		{"EdDSA", sign(t, jwtv5.SigningMethodEdDSA, edIdP, map[string]any{"kid": "idp-ed"}, claimsAt(now)), nil},
		{"no kid, one key of its type", sign(t, jwtv5.SigningMethodRS256, rsaIdP, nil, claimsAt(now)), nil},
		{"aud array with one match", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["aud"] = []string{"someone-else", "billing-api"}
		})), nil},
		{"expired", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["exp"] = now.Add(-31 * time.Second).Unix()
		})), errExpired},
		{"expired within leeway", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["exp"] = now.Add(-29 * time.Second).Unix()
		})), nil},
		{"not yet valid", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["nbf"] = now.Add(31 * time.Second).Unix()
		})), errNotYetValid},
		{"nbf within leeway", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["nbf"] = now.Add(29 * time.Second).Unix()
		})), nil},
		{"iat in the future", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["iat"] = now.Add(time.Minute).Unix()
		})), errIssuedInFuture},
		{"iat within leeway", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["iat"] = now.Add(20 * time.Second).Unix()
		})), nil},
		{"missing exp", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			delete(c, "exp")
		})), errMissingClaim},
		{"exp not a number", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["exp"] = "tomorrow"
		})), errClaims},
		{"wrong issuer", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["iss"] = "https://evil.example.com/"
		})), errIssuer},
		{"missing issuer", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			delete(c, "iss")
		})), errMissingClaim},
		{"wrong audience", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			c["aud"] = []string{"payroll-api"}
		})), errAudience},
		{"missing audience", sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, with(func(c jwtv5.MapClaims) {
			delete(c, "aud")
		})), errMissingClaim},
		{"alg none", sign(t, jwtv5.SigningMethodNone, jwtv5.UnsafeAllowNoneSignatureType, rsaKid, claimsAt(now)), errMalformed},
		{"alg none with a signature", noneWithSignature(t, now), errAlgorithm},
		{"HS256 keyed with the RSA public key", sign(t, jwtv5.SigningMethodHS256, pubPEM, rsaKid, claimsAt(now)), errAlgorithm},
		{"alg not in list", sign(t, jwtv5.SigningMethodRS384, rsaIdP, rsaKid, claimsAt(now)), errAlgorithm},
		{"PS256 not in list", sign(t, jwtv5.SigningMethodPS256, rsaIdP, rsaKid, claimsAt(now)), errAlgorithm},
		{"kid of another key type", sign(t, jwtv5.SigningMethodES256, ecIdP, rsaKid, claimsAt(now)), errNoKey},
		{"tampered payload", tamper(sign(t, jwtv5.SigningMethodRS256, rsaIdP, rsaKid, claimsAt(now))), errSignature},
		{"jku to attacker jwks", sign(t, jwtv5.SigningMethodRS256, rsaEvil, map[string]any{"kid": "evil-1", "jku": attacker.URL}, claimsAt(now)), errUnknownKey},
		{"x5u to attacker", sign(t, jwtv5.SigningMethodRS256, rsaEvil, map[string]any{"kid": "evil-1", "x5u": attacker.URL}, claimsAt(now)), errUnknownKey},
		{"jku with a known kid", sign(t, jwtv5.SigningMethodRS256, rsaEvil, map[string]any{"kid": "idp-rsa", "jku": attacker.URL}, claimsAt(now)), errSignature},
		{"embedded jwk", sign(t, jwtv5.SigningMethodRS256, rsaEvil, map[string]any{"jwk": jwkJSON(&rsaEvil.PublicKey, "evil-1", "RS256")}, claimsAt(now)), errSignature},
		{"kid not a string", sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": 7}, claimsAt(now)), errMalformed},
		{"critical header", sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa", "crit": []string{"b64"}, "b64": false}, claimsAt(now)), errCritical},
		{"not a JWS", "orders-api-token", errMalformed},
		{"four segments", "a.b.c.d", errMalformed},
		{"padding", "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln", errMalformed},
		{"bad base64 header", "e!.e30.c2ln", errMalformed},
		{"header not JSON", "bm90LWpzb24.e30.c2ln", errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cons, fwd, ok, err := p.Authenticate(bearerRequest(tt.token))
			if tt.wantErr == nil {
				if err != nil || !ok || cons == nil {
					t.Fatalf("Authenticate() = %v, %v, %v, want a consumer", cons, ok, err)
				}
				if fwd != nil {
					t.Errorf("fwd = %v, want none (no forward_claims)", fwd)
				}
				return
			}
			if ok || cons != nil {
				t.Fatalf("Authenticate() ok = %v, consumer = %v, want refused", ok, cons)
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Authenticate() error = %v, want %v", err, tt.wantErr)
			}
			if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token[:8]) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
	if n := attacker.fetches.Load(); n != 0 {
		t.Errorf("attacker's JWKS fetched %d times, want 0", n)
	}
}

func TestAuthenticateNoKidSeveralKeys(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "2026-10", ""), jwkJSON(&rsaNext.PublicKey, "2026-11", ""))
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now})
	tok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, nil, claimsAt(clock.Now()))
	if _, _, ok, err := p.Authenticate(bearerRequest(tok)); ok || !errors.Is(err, errNoKey) {
		t.Fatalf("Authenticate() = %v, %v, want %v", ok, err, errNoKey)
	}
	if n := server.fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1: an ambiguous kid-less token must not refetch", n)
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		values      []string
		wantToken   string
		wantPresent bool
		wantErr     error
	}{
		{"none", nil, "", false, nil},
		{"basic", []string{"Basic b3JkZXJzOnNlY3JldA=="}, "", false, nil},
		{"bearer", []string{"Bearer a.b.c"}, "a.b.c", true, nil},
		{"scheme case", []string{"bEARER a.b.c"}, "a.b.c", true, nil},
		{"extra spaces", []string{"Bearer   a.b.c  "}, "a.b.c", true, nil},
		{"tab after the scheme", []string{"Bearer\ta.b.c"}, "a.b.c", true, nil},
		{"tab and spaces after the scheme", []string{"bearer \t a.b.c\t"}, "a.b.c", true, nil},
		{"tab-separated forged token", []string{"Bearer\tx.y."}, "", true, errMalformed},
		{"empty", []string{"Bearer"}, "", true, errMalformed},
		{"empty after space", []string{"Bearer "}, "", true, errMalformed},
		{"two tokens", []string{"Bearer a.b.c d.e.f"}, "", true, errMalformed},
		{"two headers", []string{"Basic b3JkZXJz", "Bearer a.b.c"}, "", true, errAmbiguous},
		{"two other headers", []string{"Basic b3JkZXJz", "Digest x"}, "", false, nil},
		{"oversized", []string{"Bearer a.b." + strings.Repeat("c", maxTokenBytes)}, "", true, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Authorization", v)
			}
			tok, present, err := bearer(h)
			if tok != tt.wantToken || present != tt.wantPresent || err != tt.wantErr {
				t.Errorf("bearer(%q) = %q, %v, %v, want %q, %v, %v", tt.values, tok, present, err, tt.wantToken, tt.wantPresent, tt.wantErr)
			}
		})
	}
}

func TestAuthenticateNoBearer(t *testing.T) {
	p := newProvider(t, &config.JWT{Name: "hmac", Secret: strings.Repeat("k", 32), Algorithms: []string{"HS256"}}, nil, Options{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Basic b3JkZXJzOnNlY3JldA==")
	if c, fwd, ok, err := p.Authenticate(r); c != nil || fwd != nil || ok || err != nil {
		t.Errorf("Authenticate(Basic) = %v, %v, %v, %v, want nothing", c, fwd, ok, err)
	}
}

func TestHMAC(t *testing.T) {
	testKeys(t)
	clock := newClock()
	secret := []byte("orders-hmac-secret-0123456789abcdef")
	p := newProvider(t, &config.JWT{
		Name: "internal", Secret: string(secret), Algorithms: []string{"HS256"}, ConsumerClaim: "sub",
	}, nil, Options{Now: clock.Now})
	now := clock.Now()
	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"HS256", sign(t, jwtv5.SigningMethodHS256, secret, nil, claimsAt(now)), nil},
		{"HS256 other secret", sign(t, jwtv5.SigningMethodHS256, []byte("another-secret-0123456789abcdefgh"), nil, claimsAt(now)), errSignature},
		{"HS512 not in list", sign(t, jwtv5.SigningMethodHS512, secret, nil, claimsAt(now)), errAlgorithm},
		{"RS256 to an HMAC provider", sign(t, jwtv5.SigningMethodRS256, rsaIdP, nil, claimsAt(now)), errAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, ok, err := p.Authenticate(bearerRequest(tt.token))
			if ok != (tt.wantErr == nil) || !errors.Is(err, tt.wantErr) {
				t.Errorf("Authenticate() = %v, %v, want error %v", ok, err, tt.wantErr)
			}
		})
	}
}

func TestNewRefusesUnsafeConfig(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 64)
	tests := []struct {
		name string
		cfg  config.JWT
		want string
	}{
		{"none", config.JWT{Secret: secret, Algorithms: []string{"none"}}, `"none" is not accepted`},
		{"HS256 with a jwks", config.JWT{JWKSURL: "https://id.example.com/jwks", Algorithms: []string{"RS256", "HS256"}}, "HS256 needs a secret"},
		{"RS256 with a secret", config.JWT{Secret: secret, Algorithms: []string{"RS256"}}, "RS256 needs a public key"},
		{"two sources", config.JWT{Secret: secret, JWKSURL: "https://id.example.com/jwks", Algorithms: []string{"HS256"}}, "exactly one"},
		{"no algorithms", config.JWT{Secret: secret}, "no algorithms"},
		{"file url", config.JWT{JWKSURL: "file:///etc/jwks.json", Algorithms: []string{"RS256"}}, "jwks_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Name = "corp"
			p, err := buildStarted(context.Background(), &cfg, nil, Options{Logger: quietLogger()})
			if err == nil {
				p.Close()
				t.Fatalf("buildStarted() succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestConsumerMapping(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"))
	acme := &pipeline.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}}
	res := &resolver{subs: map[string]*pipeline.Consumer{"client-acme": acme, "4711": {ID: "globex"}}}
	now := clock.Now()
	tests := []struct {
		name   string
		claim  string
		claims map[string]any
		want   *pipeline.Consumer
		calls  []string
	}{
		{"mapped", "sub", map[string]any{"sub": "client-acme"}, acme, []string{"corp/client-acme"}},
		{"unmapped", "sub", map[string]any{"sub": "client-initech"}, &pipeline.Consumer{}, []string{"corp/client-initech"}},
		{"no claim", "sub", map[string]any{"sub": nil}, &pipeline.Consumer{}, nil},
		{"other claim", "azp", map[string]any{"azp": "client-acme"}, acme, []string{"corp/client-acme"}},
		{"numeric claim", "uid", map[string]any{"uid": 4711}, &pipeline.Consumer{ID: "globex"}, []string{"corp/4711"}},
		{"object claim", "sub", map[string]any{"sub": map[string]any{"id": "client-acme"}}, &pipeline.Consumer{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res.calls = nil
			cfg := corpConfig(server.URL)
			cfg.ConsumerClaim = tt.claim
			p := newProvider(t, cfg, res, Options{Now: clock.Now})
			claims := claimsAt(now)
			for k, v := range tt.claims {
				if v == nil {
					delete(claims, k)
				} else {
					claims[k] = v
				}
			}
			tok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa"}, claims)
			cons, _, ok, err := p.Authenticate(bearerRequest(tok))
			if err != nil || !ok {
				t.Fatalf("Authenticate() = %v, %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, cons); diff != "" {
				t.Errorf("consumer (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.calls, res.calls); diff != "" {
				t.Errorf("resolver calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForwardClaims(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"))
	cfg := corpConfig(server.URL)
	cfg.ForwardClaims = map[string]string{
		"sub": "X-User-Sub", "scope": "x-user-scope", "roles": "X-User-Roles", "admin": "X-User-Admin",
		"tenant": "X-Tenant", "ratio": "X-Ratio", "big": "X-Big", "address": "X-Address",
		"missing": "X-Missing", "nothing": "X-Nothing", "evil": "X-Evil",
	}
	p := newProvider(t, cfg, nil, Options{Now: clock.Now})
	claims := claimsAt(clock.Now())
	claims["scope"] = "orders:read orders:write"
	claims["roles"] = []any{"admin", "billing", 7, true, []any{"x"}}
	claims["admin"] = false
	claims["tenant"] = 12345
	claims["ratio"] = 0.25
	claims["big"] = json.Number("12345678901234567890")
	claims["address"] = map[string]any{"country": "DE", "zip": "10115"}
	claims["nothing"] = nil
	claims["evil"] = "a\r\nX-Consumer-ID: acme"
	tok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa"}, claims)

	_, fwd, ok, err := p.Authenticate(bearerRequest(tok))
	if err != nil || !ok {
		t.Fatalf("Authenticate() = %v, %v", ok, err)
	}
	want := [][2]string{
		{"X-Address", `{"country":"DE","zip":"10115"}`},
		{"X-User-Admin", "false"},
		{"X-Big", "12345678901234567890"},
		{"X-Ratio", "0.25"},
		{"X-User-Roles", `admin,billing,7,true,x`},
		{"X-User-Scope", "orders:read orders:write"},
		{"X-User-Sub", "client-acme"},
		{"X-Tenant", "12345"},
	}
	if diff := cmp.Diff(want, fwd); diff != "" {
		t.Errorf("forwarded claims (-want +got):\n%s", diff)
	}
	wantHeaders := []string{"X-Address", "X-User-Admin", "X-Big", "X-Evil", "X-Missing", "X-Nothing", "X-Ratio", "X-User-Roles", "X-User-Scope", "X-User-Sub", "X-Tenant"}
	if diff := cmp.Diff(wantHeaders, p.ForwardedHeaders()); diff != "" {
		t.Errorf("ForwardedHeaders() (-want +got):\n%s", diff)
	}
}

func TestFormatClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     any
		want   string
		wantOK bool
	}{
		{"string", "client-acme", "client-acme", true},
		{"number", json.Number("1.5e3"), "1.5e3", true},
		{"float", 1700000000.0, "1700000000", true},
		{"bool", true, "true", true},
		{"array", []any{"a", json.Number("2"), map[string]any{"k": "v"}}, `a,2,{"k":"v"}`, true},
		{"empty array", []any{}, "", true},
		{"object", map[string]any{"b": []any{1.0}, "a": "x"}, `{"a":"x","b":[1]}`, true},
		{"null", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := formatClaim(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("formatClaim(%v) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestChallengeAndName(t *testing.T) {
	p := newProvider(t, &config.JWT{Name: "internal", Secret: strings.Repeat("k", 32), Algorithms: []string{"HS256"}}, nil, Options{})
	if got, want := p.Name(), "internal"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := p.Challenge(), `Bearer realm="gantry"`; got != want {
		t.Errorf("Challenge() = %q, want %q", got, want)
	}
	p.Close()
	p.Close() // idempotent
}

func mustPKIX(tb testing.TB, pub any) []byte {
	tb.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// tamper swaps a signed token's claims for others, keeping its header
// and signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"client-admin","exp":4102444800}`))
	return parts[0] + "." + payload + "." + parts[2]
}

// noneWithSignature is an alg "none" token with a signature segment, which
// passes the shape check and must be refused by the algorithm list.
func noneWithSignature(tb testing.TB, now time.Time) string {
	tok := sign(tb, jwtv5.SigningMethodNone, jwtv5.UnsafeAllowNoneSignatureType, nil, claimsAt(now))
	return tok + "c2lnbmF0dXJl"
}
