package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jwtv5 "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Keys are generated once per test binary: RSA generation is slow.
var (
	keysOnce                 sync.Once
	rsaIdP, rsaNext, rsaEvil *rsa.PrivateKey
	ecIdP                    *ecdsa.PrivateKey
	ecP384                   *ecdsa.PrivateKey
	edIdP                    ed25519.PrivateKey
)

func testKeys(tb testing.TB) {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&rsaIdP, &rsaNext, &rsaEvil} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		if ecIdP, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecP384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edIdP, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// fakeClock is a settable clock for exp/nbf/iat and the refetch limit.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// jwkJSON renders a public key as a JWK.
func jwkJSON(pub crypto.PublicKey, kid, alg string) map[string]any {
	enc := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = enc(k.N.Bytes())
		m["e"] = enc(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(b) - 1) / 2
		m["kty"] = "EC"
		m["crv"] = k.Curve.Params().Name
		m["x"] = enc(b[1 : 1+size])
		m["y"] = enc(b[1+size:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = enc(k)
	default:
		panic("unsupported key")
	}
	return m
}

// idp is a JWKS endpoint whose key set, availability and caching header the
// test controls, counting the fetches it serves.
type idp struct {
	*httptest.Server
	fetches      atomic.Int64
	down         atomic.Bool
	delay        atomic.Int64 // nanoseconds before answering
	body         atomic.Pointer[[]byte]
	cacheControl atomic.Pointer[string]
}

func newIdP(t testing.TB, keys ...map[string]any) *idp {
	t.Helper()
	s := &idp{}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if d := s.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if s.down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if cc := s.cacheControl.Load(); cc != nil {
			w.Header().Set("Cache-Control", *cc)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *idp) setKeys(keys ...map[string]any) {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	s.body.Store(&b)
}

func (s *idp) setRaw(b []byte) { s.body.Store(&b) }

func (s *idp) setCacheControl(v string) { s.cacheControl.Store(&v) }

// sign makes a compact JWS. header holds extra header members; a "kid"
// of "" is left out.
func sign(tb testing.TB, method jwtv5.SigningMethod, key any, header map[string]any, claims jwtv5.MapClaims) string {
	tb.Helper()
	tok := jwtv5.NewWithClaims(method, claims)
	for k, v := range header {
		if k == "kid" && v == "" {
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("signing: %v", err)
	}
	return s
}

// claimsAt returns valid claims for the corp provider at time now.
func claimsAt(now time.Time) jwtv5.MapClaims {
	return jwtv5.MapClaims{
		"iss": "https://id.example.com/",
		"aud": "orders-api",
		"sub": "client-acme",
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

func corpConfig(jwksURL string) *config.JWT {
	return &config.JWT{
		Name:          "corp",
		Issuer:        "https://id.example.com/",
		Audiences:     []string{"orders-api", "billing-api"},
		JWKSURL:       jwksURL,
		Algorithms:    []string{"RS256", "ES256", "EdDSA"},
		Leeway:        config.Duration(30 * time.Second),
		ConsumerClaim: "sub",
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newProvider(tb testing.TB, c *config.JWT, res Resolver, opts Options) *Provider {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	p, err := buildStarted(context.Background(), c, res, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

func bearerRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// resolver is a fixed subject table.
type resolver struct {
	mu    sync.Mutex
	subs  map[string]*pipeline.Consumer
	calls []string
}

func (r *resolver) BySubject(provider, subject string) (*pipeline.Consumer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, provider+"/"+subject)
	c, ok := r.subs[subject]
	return c, ok
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jsonKeys(keys ...map[string]any) ([]byte, error) {
	return json.Marshal(map[string]any{"keys": keys})
}
