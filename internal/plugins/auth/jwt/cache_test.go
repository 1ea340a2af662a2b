package jwt

import (
	"errors"
	"fmt"
	"testing"
	"time"

	jwtv5 "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestTokenCache: a verified token is remembered, but never past its exp
// (plus leeway), never under another key set, and the consumer its
// subject maps to is looked up again on every hit.
func TestTokenCache(t *testing.T) {
	clock := newClock()
	secret := "cache-test-hmac-secret-0123456789abcdef"
	res := &resolver{subs: map[string]*pipeline.Consumer{"client-acme": {ID: "acme"}}}
	p := newProvider(t, &config.JWT{
		Name: "internal", Secret: secret, Algorithms: []string{"HS256"},
		Issuer: "https://id.example.com/", Audiences: []string{"orders-api"},
		Leeway: config.Duration(30 * time.Second), ConsumerClaim: "sub",
		ForwardClaims: map[string]string{"sub": "X-User-Sub"},
	}, res, Options{Now: clock.Now})
	tok := sign(t, jwtv5.SigningMethodHS256, []byte(secret), nil, claimsAt(clock.Now()))

	auth := func() (*pipeline.Consumer, [][2]string, error) {
		c, fwd, ok, err := p.Authenticate(bearerRequest(tok))
		if ok != (err == nil) {
			t.Fatalf("ok %v with error %v", ok, err)
		}
		return c, fwd, err
	}
	c, fwd, err := auth()
	if err != nil || c.ID != "acme" || len(fwd) != 1 || fwd[0] != [2]string{"X-User-Sub", "client-acme"} {
		t.Fatalf("first: %+v %v %v", c, fwd, err)
	}
	if p.cache.get(tok, p.keys.Load(), clock.Now()) == nil {
		t.Fatal("a verified token was not cached")
	}
	// A hit resolves the subject again: a remapped subject takes effect.
	res.mu.Lock()
	res.subs["client-acme"] = &pipeline.Consumer{ID: "acme-2"}
	res.mu.Unlock()
	if c, fwd, err = auth(); err != nil || c.ID != "acme-2" || len(fwd) != 1 {
		t.Fatalf("cached: %+v %v %v", c, fwd, err)
	}
	// Past the 5 minute cap the token is verified afresh, and still good.
	clock.Advance(6 * time.Minute)
	if _, _, err = auth(); err != nil {
		t.Fatalf("after the cache TTL: %v", err)
	}
	// exp is an hour after issue; with 30 s leeway the token dies at
	// +1h30s, cached or not.
	clock.Advance(time.Hour - 6*time.Minute + 29*time.Second)
	if _, _, err = auth(); err != nil {
		t.Fatalf("inside the leeway: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, _, err = auth(); !errors.Is(err, errExpired) {
		t.Fatalf("expired token: %v, want %v", err, errExpired)
	}
}

// TestTokenCacheKeySet: a token cached under one key set is verified again
// once the set is replaced, so a removed key stops working.
func TestTokenCacheKeySet(t *testing.T) {
	testKeys(t)
	clock := newClock()
	oldKey := jwkJSON(&rsaIdP.PublicKey, "2026-10", "RS256")
	newKey := jwkJSON(&rsaNext.PublicKey, "2026-11", "RS256")
	server := newIdP(t, oldKey)
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now})
	tok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "2026-10"}, claimsAt(clock.Now()))
	if _, _, ok, err := p.Authenticate(bearerRequest(tok)); !ok {
		t.Fatal(err)
	}
	server.setKeys(newKey)
	clock.Advance(11 * time.Second)
	// An unknown kid triggers the refetch that drops the old key.
	other := sign(t, jwtv5.SigningMethodRS256, rsaNext, map[string]any{"kid": "2026-11"}, claimsAt(clock.Now()))
	if _, _, ok, err := p.Authenticate(bearerRequest(other)); !ok {
		t.Fatal(err)
	}
	if _, _, ok, err := p.Authenticate(bearerRequest(tok)); ok || !errors.Is(err, errUnknownKey) {
		t.Fatalf("token of a removed key: ok %v, %v", ok, err)
	}
}

// TestTokenCacheBound: the cache never holds more than its bound.
func TestTokenCacheBound(t *testing.T) {
	c := newTokenCache()
	until := time.Now().Add(time.Minute)
	for i := range 10 * cacheShards * cacheShardMax {
		c.put(fmt.Sprintf("token-%d", i), &verified{until: until})
	}
	n := 0
	for i := range c.shards {
		if l := len(c.shards[i].m); l > cacheShardMax {
			t.Fatalf("shard %d holds %d", i, l)
		} else {
			n += l
		}
	}
	if n == 0 {
		t.Fatal("cache empty")
	}
}

// TestTokenCacheRefreshFull: storing a token already cached in a full
// shard replaces it without evicting another.
func TestTokenCacheRefreshFull(t *testing.T) {
	c := newTokenCache()
	until := time.Now().Add(time.Minute)
	first := "token-0"
	sh := c.shard(first)
	for i := 0; len(sh.m) < cacheShardMax; i++ {
		if tok := fmt.Sprintf("token-%d", i); c.shard(tok) == sh {
			c.put(tok, &verified{until: until})
		}
	}
	cached := make([]string, 0, len(sh.m))
	for tok := range sh.m {
		cached = append(cached, tok)
	}
	c.put(first, &verified{until: until.Add(time.Second)})
	for _, tok := range cached {
		if sh.m[tok] == nil {
			t.Fatalf("%s evicted by refreshing %s", tok, first)
		}
	}
	if v := sh.m[first]; v == nil || !v.until.Equal(until.Add(time.Second)) {
		t.Fatalf("refreshed entry %+v", v)
	}
}
