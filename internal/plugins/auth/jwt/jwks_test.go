package jwt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jwtv5 "github.com/golang-jwt/jwt/v5"
)

func TestJWKSRotation(t *testing.T) {
	testKeys(t)
	clock := newClock()
	oldKey := jwkJSON(&rsaIdP.PublicKey, "2026-10", "RS256")
	newKey := jwkJSON(&rsaNext.PublicKey, "2026-11", "RS256")
	server := newIdP(t, oldKey)
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now})

	oldTok := func() string {
		return sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "2026-10"}, claimsAt(clock.Now()))
	}
	newTok := func() string {
		return sign(t, jwtv5.SigningMethodRS256, rsaNext, map[string]any{"kid": "2026-11"}, claimsAt(clock.Now()))
	}
	steps := []struct {
		name        string
		do          func()
		token       func() string
		wantErr     error
		wantFetches int64
	}{
		{"old key at start", nil, oldTok, nil, 1},
		{"new kid before the idp rotates", func() { clock.Advance(11 * time.Second) }, newTok, errUnknownKey, 2},
		{"rotated, but refetched less than 10 s ago", func() { server.setKeys(oldKey, newKey) }, newTok, errUnknownKey, 2},
		{"unknown kid refetches after 10 s", func() { clock.Advance(10 * time.Second) }, newTok, nil, 3},
		{"old key removed, still cached", func() { server.setKeys(newKey) }, oldTok, nil, 3},
		{"old key still cached 10 s later", func() { clock.Advance(10 * time.Second) }, oldTok, nil, 3},
		{"another kid refetches", func() { clock.Advance(time.Second) }, func() string {
			return sign(t, jwtv5.SigningMethodRS256, rsaNext, map[string]any{"kid": "2026-12"}, claimsAt(clock.Now()))
		}, errUnknownKey, 4},
		{"old key rejected after the refresh", nil, oldTok, errUnknownKey, 4},
		{"new key still good", nil, newTok, nil, 4},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		_, _, ok, err := p.Authenticate(bearerRequest(s.token()))
		if ok != (s.wantErr == nil) || !errors.Is(err, s.wantErr) {
			t.Errorf("%s: Authenticate() = %v, %v, want error %v", s.name, ok, err, s.wantErr)
		}
		if n := server.fetches.Load(); n != s.wantFetches {
			t.Errorf("%s: fetches = %d, want %d", s.name, n, s.wantFetches)
		}
	}
}

func TestJWKSEndpointDown(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"))
	server.setCacheControl("max-age=0")
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now, minRefresh: 5 * time.Millisecond, minRetry: 5 * time.Millisecond})
	good := func() string {
		return sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa"}, claimsAt(clock.Now()))
	}
	if _, _, ok, err := p.Authenticate(bearerRequest(good())); !ok {
		t.Fatalf("Authenticate() before the outage = %v", err)
	}

	server.down.Store(true)
	before := server.fetches.Load()
	waitFor(t, "background refreshes to fail a few times", func() bool { return server.fetches.Load() >= before+3 })
	if _, _, ok, err := p.Authenticate(bearerRequest(good())); !ok {
		t.Errorf("Authenticate() with the endpoint down = %v, want the cached key to work", err)
	}
	clock.Advance(time.Minute)
	unknown := sign(t, jwtv5.SigningMethodRS256, rsaNext, map[string]any{"kid": "idp-next"}, claimsAt(clock.Now()))
	if _, _, ok, err := p.Authenticate(bearerRequest(unknown)); ok || !errors.Is(err, errUnknownKey) {
		t.Errorf("Authenticate(unknown kid) with the endpoint down = %v, %v, want %v", ok, err, errUnknownKey)
	}
	if _, _, ok, err := p.Authenticate(bearerRequest(good())); !ok {
		t.Errorf("Authenticate() after a failed refetch = %v, want the cached key to work", err)
	}
}

func TestJWKSUnavailableAtStart(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"))
	server.down.Store(true)
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now, minRetry: 5 * time.Millisecond})
	tok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa"}, claimsAt(clock.Now()))
	if _, _, ok, err := p.Authenticate(bearerRequest(tok)); ok || !errors.Is(err, errNoKeysYet) {
		t.Fatalf("Authenticate() before any keys = %v, %v, want %v", ok, err, errNoKeysYet)
	}
	server.down.Store(false)
	waitFor(t, "the background retry to load keys", func() bool {
		_, _, ok, _ := p.Authenticate(bearerRequest(tok))
		return ok
	})
}

func TestJWKSUnreachableAtStart(t *testing.T) {
	server := newIdP(t)
	u := server.URL
	server.Close()
	start := time.Now()
	p := newProvider(t, corpConfig(u), nil, Options{})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("New() took %v with a refused connection", d)
	}
	if p.keys.Load() != nil {
		t.Errorf("keys loaded from a closed server")
	}
}

func TestFetchStorm(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"))
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now})
	server.delay.Store(int64(50 * time.Millisecond))
	clock.Advance(11 * time.Second)

	tokens := make([]string, 100)
	for i := range tokens {
		tokens[i] = sign(t, jwtv5.SigningMethodRS256, rsaNext, map[string]any{"kid": fmt.Sprintf("storm-%d", i)}, claimsAt(clock.Now()))
	}
	storm := func() {
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				if _, _, ok, err := p.Authenticate(bearerRequest(tok)); ok || !errors.Is(err, errUnknownKey) {
					t.Errorf("Authenticate(unknown kid) = %v, %v, want %v", ok, err, errUnknownKey)
				}
			})
		}
		wg.Wait()
	}
	storm()
	if n := server.fetches.Load(); n != 2 {
		t.Errorf("fetches after the first storm = %d, want 2 (start + one refetch)", n)
	}
	clock.Advance(9 * time.Second)
	storm()
	if n := server.fetches.Load(); n != 2 {
		t.Errorf("fetches after a second storm within 10 s = %d, want 2", n)
	}
	clock.Advance(time.Second)
	storm()
	if n := server.fetches.Load(); n != 3 {
		t.Errorf("fetches after a storm 10 s later = %d, want 3", n)
	}
}

// TestFetchStormRotatedKey sends 100 concurrent tokens signed with a key
// the IdP just published: one fetch serves them all, and every request
// waits for it rather than failing because another request started it.
func TestFetchStormRotatedKey(t *testing.T) {
	testKeys(t)
	clock := newClock()
	oldKey := jwkJSON(&rsaIdP.PublicKey, "2026-10", "RS256")
	server := newIdP(t, oldKey)
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now})
	server.setKeys(oldKey, jwkJSON(&rsaNext.PublicKey, "2026-11", "RS256"))
	server.delay.Store(int64(100 * time.Millisecond))
	clock.Advance(11 * time.Second)
	tok := sign(t, jwtv5.SigningMethodRS256, rsaNext, map[string]any{"kid": "2026-11"}, claimsAt(clock.Now()))

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if _, _, ok, err := p.Authenticate(bearerRequest(tok)); !ok {
				t.Errorf("Authenticate(rotated kid) = %v", err)
			}
		})
	}
	wg.Wait()
	if n := server.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2 (start + one shared refetch)", n)
	}
}

func TestRefetchWaitIsBounded(t *testing.T) {
	testKeys(t)
	clock := newClock()
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"))
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now, HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}})
	server.delay.Store(int64(time.Second))
	clock.Advance(11 * time.Second)
	tok := sign(t, jwtv5.SigningMethodRS256, rsaNext, map[string]any{"kid": "idp-next"}, claimsAt(clock.Now()))

	start := time.Now()
	if _, _, ok, err := p.Authenticate(bearerRequest(tok)); ok || !errors.Is(err, errUnknownKey) {
		t.Errorf("Authenticate() = %v, %v, want %v", ok, err, errUnknownKey)
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("Authenticate() waited %v for a slow JWKS, want at most the 200ms fetch timeout", d)
	}

	clock.Advance(11 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, _, ok, _ := p.Authenticate(bearerRequest(tok).WithContext(ctx)); ok {
		t.Errorf("Authenticate() = true, want refused")
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("Authenticate() waited %v past its request's deadline", d)
	}
}

func TestBackgroundRefresh(t *testing.T) {
	testKeys(t)
	clock := newClock()
	oldKey := jwkJSON(&rsaIdP.PublicKey, "2026-10", "RS256")
	server := newIdP(t, oldKey, jwkJSON(&rsaNext.PublicKey, "2026-11", "RS256"))
	server.setCacheControl("public, max-age=0")
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now, minRefresh: 10 * time.Millisecond})
	tok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "2026-10"}, claimsAt(clock.Now()))
	if _, _, ok, err := p.Authenticate(bearerRequest(tok)); !ok {
		t.Fatalf("Authenticate() = %v", err)
	}
	server.setKeys(jwkJSON(&rsaNext.PublicKey, "2026-11", "RS256"))
	waitFor(t, "the removed key to be refused", func() bool {
		_, _, ok, _ := p.Authenticate(bearerRequest(tok))
		return !ok
	})

	p.Close()
	n := server.fetches.Load()
	time.Sleep(50 * time.Millisecond)
	if m := server.fetches.Load(); m != n {
		t.Errorf("fetches went from %d to %d after Close", n, m)
	}
}

func TestJWKSResponseLimits(t *testing.T) {
	testKeys(t)
	key := jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256")
	many := make([]map[string]any, maxKeys+1)
	for i := range many {
		many[i] = key
	}
	tests := []struct {
		name  string
		setup func(*idp)
	}{
		{"over 1 MiB", func(s *idp) {
			s.setRaw([]byte(`{"keys":[],"padding":"` + strings.Repeat("x", maxJWKSBytes) + `"}`))
		}},
		{"too many keys", func(s *idp) { s.setKeys(many...) }},
		{"not JSON", func(s *idp) { s.setRaw([]byte("<html>login</html>")) }},
		{"no usable key", func(s *idp) { s.setKeys(map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			server := newIdP(t)
			tt.setup(server)
			p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now})
			tok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa"}, claimsAt(clock.Now()))
			if _, _, ok, err := p.Authenticate(bearerRequest(tok)); ok || !errors.Is(err, errNoKeysYet) {
				t.Errorf("Authenticate() = %v, %v, want %v", ok, err, errNoKeysYet)
			}
		})
	}
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", defaultRefresh},
		{"max-age=600", 10 * time.Minute},
		{"public, max-age=3600, must-revalidate", time.Hour},
		{`max-age="120"`, 2 * time.Minute},
		{"max-age=5", minRefresh},
		{"max-age=0", minRefresh},
		{"max-age=999999999999", maxRefresh},
		{"max-age=-1", defaultRefresh},
		{"max-age=soon", defaultRefresh},
		{"no-store", minRefresh},
		{"MAX-AGE=120", 2 * time.Minute},
		{"no-cache, max-age=600", minRefresh},
	}
	for _, tt := range tests {
		if got := cacheTTL(tt.header, minRefresh); got != tt.want {
			t.Errorf("cacheTTL(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestDefaultClient(t *testing.T) {
	t.Parallel()
	c := defaultClient()
	if tr, ok := c.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Errorf("default transport uses a proxy function; want none")
	}
	if c.Timeout != defaultFetchTimeout {
		t.Errorf("Timeout = %v, want %v", c.Timeout, defaultFetchTimeout)
	}
	req := func(s string) *http.Request {
		u, _ := url.Parse(s)
		return &http.Request{URL: u}
	}
	if err := c.CheckRedirect(req("http://id.example.com/jwks"), []*http.Request{req("https://id.example.com/jwks")}); err == nil {
		t.Errorf("redirect from https to http allowed")
	}
	if err := c.CheckRedirect(req("https://keys.example.com/jwks"), []*http.Request{req("https://id.example.com/jwks")}); err != nil {
		t.Errorf("redirect within https refused: %v", err)
	}
}
