package jwt

import (
	"net/http"
	"net/http/httptest"
	"testing"

	jwtv5 "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// BenchmarkAuthenticate measures one request's verification with the keys
// already cached: header parsing, claims decoding and checks, signature,
// consumer lookup and one forwarded claim.
func BenchmarkAuthenticate(b *testing.B) {
	testKeys(b)
	clock := newClock()
	server := newIdP(b,
		jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"),
		jwkJSON(&ecIdP.PublicKey, "idp-ec", "ES256"),
		jwkJSON(edIdP.Public(), "idp-ed", "EdDSA"),
	)
	res := &benchResolver{c: &pipeline.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}}}
	cfg := corpConfig(server.URL)
	cfg.ForwardClaims = map[string]string{"sub": "X-User-Sub"}
	jwks := newProvider(b, cfg, res, Options{Now: clock.Now})
	secret := []byte("orders-hmac-secret-0123456789abcdef")
	hmac := newProvider(b, &config.JWT{
		Name: "internal", Secret: string(secret), Algorithms: []string{"HS256"},
		Issuer: cfg.Issuer, Audiences: cfg.Audiences, ConsumerClaim: "sub", ForwardClaims: cfg.ForwardClaims,
	}, res, Options{Now: clock.Now})

	now := clock.Now()
	cases := []struct {
		name  string
		p     *Provider
		token string
	}{
		{"RS256", jwks, sign(b, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa"}, claimsAt(now))},
		{"ES256", jwks, sign(b, jwtv5.SigningMethodES256, ecIdP, map[string]any{"kid": "idp-ec"}, claimsAt(now))},
		{"EdDSA", jwks, sign(b, jwtv5.SigningMethodEdDSA, edIdP, map[string]any{"kid": "idp-ed"}, claimsAt(now))},
		{"HS256", hmac, sign(b, jwtv5.SigningMethodHS256, secret, nil, claimsAt(now))},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
		r.Header.Set("Authorization", "Bearer "+c.token)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok, err := c.p.Authenticate(r); !ok {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"_parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, ok, err := c.p.Authenticate(r); !ok {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRefused measures a token refused before any signature work.
func BenchmarkRefused(b *testing.B) {
	p := newProvider(b, &config.JWT{Name: "internal", Secret: "orders-hmac-secret-0123456789abcdef", Algorithms: []string{"HS256"}}, nil, Options{})
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	r.Header.Set("Authorization", "Bearer not-a-jwt")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok, _ := p.Authenticate(r); ok {
			b.Fatal("authenticated")
		}
	}
}

type benchResolver struct{ c *pipeline.Consumer }

func (r *benchResolver) BySubject(provider, subject string) (*pipeline.Consumer, bool) {
	return r.c, true
}
