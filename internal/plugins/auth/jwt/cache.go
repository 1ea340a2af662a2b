package jwt

import (
	"hash/maphash"
	"sync"
	"time"
)

// Verifying a token costs tens of microseconds (signature and claims
// decoding); a client sends the same token on every request until it
// expires. The cache remembers tokens that verified, keyed by the whole
// token (exact match, so no collision can pass off one token as another),
// until their exp (plus leeway) but at most tokenCacheTTL, and only while the
// key set that verified them is still the current one: a JWKS refresh or
// rotation empties it in effect.
const (
	cacheShards   = 16
	cacheShardMax = 256
	tokenCacheTTL = 5 * time.Minute
)

type tokenCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*verified
}

// verified is what a verification established, minus what can change
// without the token changing (the consumer a subject maps to is resolved
// again on every hit).
type verified struct {
	keys  *keySet
	until time.Time
	sub   string
	fwd   [][2]string
}

func newTokenCache() *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*verified)
	}
	return c
}

func (c *tokenCache) shard(tok string) *cacheShard {
	return &c.shards[maphash.String(c.seed, tok)%cacheShards]
}

// get returns the entry for tok if it is still good at now under keys.
func (c *tokenCache) get(tok string, keys *keySet, now time.Time) *verified {
	sh := c.shard(tok)
	sh.mu.RLock()
	v := sh.m[tok]
	sh.mu.RUnlock()
	if v == nil || v.keys != keys || !now.Before(v.until) {
		return nil
	}
	return v
}

// put remembers v for tok. A full shard drops an arbitrary entry: the
// cache only saves work, and a bound matters more than hit rate.
func (c *tokenCache) put(tok string, v *verified) {
	sh := c.shard(tok)
	sh.mu.Lock()
	if _, ok := sh.m[tok]; !ok && len(sh.m) >= cacheShardMax {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[tok] = v
	sh.mu.Unlock()
}
