package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis is the store shared by every node that uses the same Redis. Each
// entry is one key with a TTL (the entry's keep), its value the entry's
// compact encoding. A route's keys share a Cluster slot (its hash tag) and
// embed the route's purge epoch: purging a route increments the epoch, so
// its old keys are never read again and expire by their TTL. Each (route,
// path) has an index set of its keys, which a path purge deletes.
type Redis struct {
	rdb    *redis.Client
	prefix string
}

var _ Store = (*Redis)(nil)

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// URL is a redis:// or rediss:// URL.
	URL string
	// KeyPrefix starts every key ("gantry").
	KeyPrefix string
	// Timeout bounds each call. Default 500ms.
	Timeout time.Duration
}

// NewRedis returns a Redis store. It opens no connection until first use.
func NewRedis(o RedisOptions) (*Redis, error) {
	// url.Parse errors quote the URL, password included: say less.
	if _, err := url.Parse(o.URL); err != nil {
		return nil, errors.New("cache.redis_url is not a valid URL")
	}
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("cache.redis_url: %w", err)
	}
	if o.Timeout <= 0 {
		o.Timeout = 500 * time.Millisecond
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = o.Timeout, o.Timeout, o.Timeout
	opt.MaxRetries = -1
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "gantry"
	}
	return &Redis{rdb: redis.NewClient(opt), prefix: o.KeyPrefix}, nil
}

// tag is the hash tag and start of every key of route.
func (s *Redis) tag(route string) string { return "{" + s.prefix + ":cache:" + route + "}:" }

// pathIndex is the key of the set of route's keys for path.
func (s *Redis) pathIndex(route, path string) string {
	sum := sha256.Sum256([]byte(path))
	return s.tag(route) + "p:" + hex.EncodeToString(sum[:12])
}

// getScript reads the entry under the route's current epoch: one round
// trip. KEYS[1] is the epoch key; ARGV the key's start and end.
var getScript = redis.NewScript(`
local e = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', ARGV[1] .. e .. ':' .. ARGV[2])`)

// setScript stores an entry under the route's current epoch and records
// its key in the path's index. KEYS: epoch, index; ARGV: key start, key
// end, value, TTL in milliseconds.
var setScript = redis.NewScript(`
local e = redis.call('GET', KEYS[1]) or '0'
local k = ARGV[1] .. e .. ':' .. ARGV[2]
redis.call('SET', k, ARGV[3], 'PX', ARGV[4])
redis.call('SADD', KEYS[2], k)
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1`)

// purgePathScript deletes every key of a path's index, and the index.
var purgePathScript = redis.NewScript(`
local ks = redis.call('SMEMBERS', KEYS[1])
for _, k in ipairs(ks) do redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return #ks`)

// Get implements Store.
func (s *Redis) Get(ctx context.Context, route, key string) (*Entry, error) {
	t := s.tag(route)
	v, err := getScript.Run(ctx, s.rdb, []string{t + "epoch"}, t+"e", key).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading cache entry: %w", err)
	}
	return Unmarshal([]byte(v))
}

// Set implements Store.
func (s *Redis) Set(ctx context.Context, route, key string, e *Entry, keep time.Duration) error {
	ms := keep.Milliseconds()
	if ms <= 0 {
		return nil
	}
	t := s.tag(route)
	err := setScript.Run(ctx, s.rdb, []string{t + "epoch", s.pathIndex(route, e.Path)}, t+"e", key, e.Marshal(), strconv.FormatInt(ms, 10)).Err()
	if err != nil {
		return fmt.Errorf("storing cache entry: %w", err)
	}
	return nil
}

// Purge implements Store.
func (s *Redis) Purge(ctx context.Context, route, path string) error {
	var err error
	if path == "" {
		err = s.rdb.Incr(ctx, s.tag(route)+"epoch").Err()
	} else {
		err = purgePathScript.Run(ctx, s.rdb, []string{s.pathIndex(route, path)}).Err()
	}
	if err != nil {
		return fmt.Errorf("purging cache entries: %w", err)
	}
	return nil
}

// Ping checks that Redis answers.
func (s *Redis) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// Close implements Store.
func (s *Redis) Close() error { return s.rdb.Close() }
