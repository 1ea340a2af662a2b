package config

import (
	"net/http"
	"net/url"
	"strings"
)

// Cache configures the store of the response cache that routes with a
// cache section use. Changing it needs a restart. *(extension)*
type Cache struct {
	// Store is memory (default: in the process, bounded by MaxSize) or
	// redis (shared by every node that uses the same Redis).
	Store string `yaml:"store" json:"store,omitempty"`
	// MaxSize bounds the memory store: the bytes of its entries (status,
	// headers and body). Default 256MiB.
	MaxSize Size `yaml:"max_size" json:"max_size,omitempty"`
	// RedisURL is the Redis of the redis store. Default: counters.redis_url.
	RedisURL string `yaml:"redis_url" json:"redis_url,omitempty"`
}

// RouteCache caches the route's GET and HEAD answers in the gateway's
// response cache. *(extension)*
type RouteCache struct {
	// TTL is how long an answer stays fresh when its upstream says nothing
	// of it (no Cache-Control max-age or s-maxage, no Expires). Default 0:
	// only answers with an explicit lifetime are cached.
	TTL Duration `yaml:"ttl" json:"ttl,omitempty"`
	// VaryBy keys entries by the consumer ("consumer") and by request
	// headers, on top of the upstream's Vary.
	VaryBy []string `yaml:"vary_by" json:"vary_by,omitempty"`
	// MaxBody is the largest answer body stored; a larger answer is relayed
	// and not stored. Default 1MiB.
	MaxBody Size `yaml:"max_body" json:"max_body,omitempty"`
	// StaleWhileRevalidate serves an entry this long past its freshness
	// while one background request revalidates it. Default 0.
	StaleWhileRevalidate Duration `yaml:"stale_while_revalidate" json:"stale_while_revalidate,omitempty"`
}

// Defaults of the cache sections.
const (
	defaultCacheMaxSize = Size(256 << 20)
	defaultCacheMaxBody = Size(1 << 20)
)

// VaryConsumer is the vary_by entry that keys a route's cache entries by
// consumer.
const VaryConsumer = "consumer"

// CacheRedisURL returns the Redis URL of the redis cache store.
func (c *Config) CacheRedisURL() string {
	if c.Cache.RedisURL != "" {
		return c.Cache.RedisURL
	}
	return c.Counters.RedisURL
}

func (c *Config) cacheDefaults() {
	setString(c, &c.Cache.Store, "cache.store", "memory")
	setSize(c, &c.Cache.MaxSize, "cache.max_size", defaultCacheMaxSize)
	for i, r := range c.Routes {
		if r == nil || r.Cache == nil {
			continue
		}
		setSize(c, &r.Cache.MaxBody, index("routes", i)+".cache.max_body", defaultCacheMaxBody)
	}
}

func (c *Config) validateCache(l *problemList) {
	k := c.Cache
	oneOf(l, "cache.store", k.Store, "memory", "redis")
	positive(l, "cache.max_size", int64(k.MaxSize), "a size like \"256MiB\"")
	if k.Store == "redis" && c.CacheRedisURL() == "" {
		l.add("cache.redis_url", "required with store redis (or set counters.redis_url): a redis:// or rediss:// URL")
	}
	if k.RedisURL != "" {
		if u, err := url.Parse(k.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			l.add("cache.redis_url", "want a redis://host:port/db or rediss:// URL")
		}
	}
	for i, r := range c.Routes {
		if r == nil || r.Cache == nil {
			continue
		}
		p := index("routes", i) + ".cache"
		rc := r.Cache
		notNegative(l, p+".ttl", int64(rc.TTL))
		notNegative(l, p+".stale_while_revalidate", int64(rc.StaleWhileRevalidate))
		positive(l, p+".max_body", int64(rc.MaxBody), "a size like \"1MiB\"")
		if k.Store == "memory" && k.MaxSize > 0 && rc.MaxBody > k.MaxSize {
			l.add(p+".max_body", "%d bytes is more than cache.max_size (%d bytes): no answer that large could be kept", rc.MaxBody, k.MaxSize)
		}
		seen := map[string]bool{}
		for j, v := range rc.VaryBy {
			vp := index(p+".vary_by", j)
			key := strings.ToLower(v)
			switch {
			case v == VaryConsumer:
				if len(r.Auth) == 0 {
					l.add(vp, "consumer needs authentication on the route (auth): without it no request has a consumer")
				}
			case !isToken(v):
				l.add(vp, "want consumer or a header name like \"Accept-Language\", got %q", v)
			default:
				key = strings.ToLower(http.CanonicalHeaderKey(v))
			}
			if seen[key] {
				l.add(vp, "%q is listed twice", v)
			}
			seen[key] = true
		}
	}
}
