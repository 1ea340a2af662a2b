package jwt

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jwtv5 "github.com/golang-jwt/jwt/v5"
)

// FuzzAuthenticate feeds arbitrary Authorization values to a provider
// whose keys the fuzzer does not have: nothing may panic, nothing may
// authenticate, and refusals wrap ErrInvalidToken without quoting input.
func FuzzAuthenticate(f *testing.F) {
	testKeys(f)
	clock := newClock()
	server := newIdP(f,
		jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"),
		jwkJSON(&ecIdP.PublicKey, "idp-ec", "ES256"),
		jwkJSON(edIdP.Public(), "idp-ed", ""),
	)
	// The clock never moves, so unknown kids cause no refetch after the
	// first fetch and the fuzzer never waits on the network.
	p := newProvider(f, corpConfig(server.URL), nil, Options{Now: clock.Now})
	now := clock.Now()
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(f, &rsaIdP.PublicKey)})
	seeds := []string{
		"",
		"Bearer",
		"Bearer ",
		"bearer a.b.c",
		"Basic b3JkZXJzOnNlY3JldA==",
		"Bearer " + sign(f, jwtv5.SigningMethodRS256, rsaEvil, map[string]any{"kid": "idp-rsa"}, claimsAt(now)),
		"Bearer " + sign(f, jwtv5.SigningMethodRS256, rsaEvil, map[string]any{"kid": "evil", "jku": "http://127.0.0.1:1/jwks"}, claimsAt(now)),
		"Bearer " + sign(f, jwtv5.SigningMethodNone, jwtv5.UnsafeAllowNoneSignatureType, nil, claimsAt(now)),
		"Bearer " + noneWithSignature(f, now),
		"Bearer " + sign(f, jwtv5.SigningMethodHS256, pubPEM, map[string]any{"kid": "idp-rsa"}, claimsAt(now)),
		"Bearer " + tamper(sign(f, jwtv5.SigningMethodES256, ecIdP, map[string]any{"kid": "idp-ec"}, claimsAt(now))),
		"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6WzFdfQ.e30.c2ln",
		"Bearer eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9.AAAA",
		"Bearer " + strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + "." + strings.Repeat("C", 100),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
		r.Header["Authorization"] = []string{v}
		cons, fwd, ok, err := p.Authenticate(r)
		if ok || cons != nil || fwd != nil {
			t.Fatalf("Authenticate(%q) authenticated: %v, %v", v, cons, fwd)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Authenticate(%q) error %v does not wrap ErrInvalidToken", v, err)
		}
		if tok := strings.TrimSpace(v[min(len(v), 7):]); len(tok) >= 16 && strings.Contains(err.Error(), tok) {
			t.Fatalf("error %q quotes the token", err)
		}
	})
}

// FuzzParseJWKS checks that any JWKS document either fails or yields only
// keys that fit some algorithm.
func FuzzParseJWKS(f *testing.F) {
	testKeys(f)
	for _, s := range []string{
		`{"keys":[]}`,
		`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
	} {
		f.Add([]byte(s))
	}
	b, _ := jsonKeys(jwkJSON(&rsaIdP.PublicKey, "rsa", "RS256"), jwkJSON(&ecIdP.PublicKey, "ec", ""))
	f.Add(b)
	algs := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	f.Fuzz(func(t *testing.T, b []byte) {
		set, _, err := parseJWKS(b)
		if err != nil {
			return
		}
		for _, k := range set.keys {
			fits := false
			for _, alg := range algs {
				fits = fits || k.fits(alg)
			}
			if !fits {
				t.Fatalf("parseJWKS kept key %q (%T) that fits no algorithm", k.kid, k.key)
			}
		}
	})
}
