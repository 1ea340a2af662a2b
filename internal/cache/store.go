package cache

import (
	"context"
	"github.com/gantry-dev/gantry/internal/config"
	"time"
)

// Store keeps entries by route and key. Implementations are safe for
// concurrent use. A Store failure never fails a request: the cache logs it
// and asks the upstream.
type Store interface {
	// Get returns the entry stored under route and key, or nil.
	Get(ctx context.Context, route, key string) (*Entry, error)
	// Set stores e under route and key for keep. An entry larger than the
	// store can hold is dropped.
	Set(ctx context.Context, route, key string, e *Entry, keep time.Duration) error
	// Purge drops the route's entries for path, or all of the route's
	// entries when path is "".
	Purge(ctx context.Context, route, path string) error
	// Close releases the store.
	Close() error
}

// Open returns the store cfg's cache section configures: memory of
// cache.max_size bytes, or redis at cache.redis_url (counters.redis_url
// when unset) under counters.key_prefix.
func Open(cfg *config.Config) (Store, error) {
	if cfg.Cache.Store == "redis" {
		return NewRedis(RedisOptions{URL: cfg.CacheRedisURL(), KeyPrefix: cfg.Counters.KeyPrefix})
	}
	return NewMemory(int64(cfg.Cache.MaxSize)), nil
}
