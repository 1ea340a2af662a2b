package counter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Environment variables of the Redis tests, as in storetest.
const (
	envRedisURL        = "GANTRY_TEST_REDIS_URL"
	envRequireServices = "GANTRY_TEST_REQUIRE_SERVICES"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// unavailable skips the test, or fails it when services are required.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(envRequireServices) == "1" {
		t.Fatalf("%s (and %s=1)", why, envRequireServices)
	}
	t.Skip(why)
}

// redisURL returns the test Redis's URL, or skips.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envRedisURL)
	if u == "" {
		unavailable(t, envRedisURL+" is not set")
	}
	return u
}

// countHook counts the commands and round trips a client sends.
type countHook struct {
	cmds, trips atomic.Int64
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		h.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(int64(len(cmds)))
		h.trips.Add(1)
		return next(ctx, cmds)
	}
}

// redisFixture is one test's view of the test Redis: its own key prefix,
// whose keys are deleted when the test ends.
type redisFixture struct {
	url    string
	prefix string
	admin  *redis.Client
}

func newRedisFixture(t testing.TB) *redisFixture {
	t.Helper()
	u := redisURL(t)
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", envRedisURL, err)
	}
	admin := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.Ping(ctx).Err(); err != nil {
		admin.Close()
		unavailable(t, "Redis at "+envRedisURL+" is unreachable: "+err.Error())
	}
	b := make([]byte, 6)
	rand.Read(b)
	f := &redisFixture{url: u, prefix: "gantry-test-" + hex.EncodeToString(b), admin: admin}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if n := f.deleteKeys(ctx); n < 0 {
			t.Errorf("deleting the test's Redis keys failed")
		}
		admin.Close()
	})
	return f
}

// keys returns the test's keys.
func (f *redisFixture) keys(ctx context.Context) []string {
	var out []string
	it := f.admin.Scan(ctx, 0, "{"+f.prefix+":*", 1000).Iterator()
	for it.Next(ctx) {
		out = append(out, it.Val())
	}
	return out
}

func (f *redisFixture) deleteKeys(ctx context.Context) int {
	keys := f.keys(ctx)
	if len(keys) == 0 {
		return 0
	}
	if err := f.admin.Del(ctx, keys...).Err(); err != nil {
		return -1
	}
	return len(keys)
}

// client returns a client configured as NewRedis configures its own, with
// a hook counting what it sends; it is closed when the test ends.
func (f *redisFixture) client(t testing.TB, o RedisOptions) (*redis.Client, *countHook) {
	t.Helper()
	o.URL = f.url
	o.setDefaults()
	opt, err := clientOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	h := &countHook{}
	c.AddHook(h)
	t.Cleanup(func() { c.Close() })
	return c, h
}

// counter returns a Redis counter on the test's prefix, closed when the
// test ends.
func (f *redisFixture) counter(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	if o.Client == nil {
		o.URL = f.url
	}
	o.Prefix = f.prefix
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	}
	// The test machine may be loaded: a spurious timeout would open the
	// breaker and turn an exactness test into a fallback test.
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = time.Second
	}
	r, err := NewRedis(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if !r.Up() {
		t.Fatal("the test Redis is unreachable from the counter")
	}
	return r
}

// driver builds a counter for tests that run against every driver.
type driver struct {
	name string
	new  func(t *testing.T, clock func() time.Time) Counter
}

func drivers() []driver {
	return []driver{
		{"memory", func(t *testing.T, clock func() time.Time) Counter {
			m := NewMemory(MemoryOptions{Now: clock})
			t.Cleanup(func() { m.Close() })
			return m
		}},
		{"redis", func(t *testing.T, clock func() time.Time) Counter {
			return newRedisFixture(t).counter(t, RedisOptions{Now: clock})
		}},
		// A Cluster client cannot run one script over keys of several
		// tags; this standalone counter takes that path all the same.
		{"redis-split", func(t *testing.T, clock func() time.Time) Counter {
			r := newRedisFixture(t).counter(t, RedisOptions{Now: clock})
			r.split = true
			return r
		}},
	}
}

// limit is a one-bucket request.
func limit(tag string, requests int64, per time.Duration, burst int64) Request {
	var r Request
	r.Add(Bucket{Tag: tag, Name: "r:orders:ip", Rate: Rate{Requests: requests, Per: per, Burst: burst}})
	return r
}

// admitCount sends n decisions one after the other and counts admissions.
// A degraded decision fails the test: it would not be counting.
func admitCount(t testing.TB, c Counter, req Request, n int) int {
	t.Helper()
	admitted := 0
	for range n {
		d := c.Take(context.Background(), req)
		if d.Degraded {
			t.Fatalf("degraded decision")
		}
		if d.Allowed {
			admitted++
		}
	}
	return admitted
}

// concurrently sends n decisions from each of g goroutines per counter
// (nodes sharing the counts, or one counter) and counts admissions. A
// degraded decision fails the test.
func concurrently(t testing.TB, req Request, g, n int, nodes ...Counter) int {
	t.Helper()
	var admitted, degraded atomic.Int64
	var wg sync.WaitGroup
	for _, c := range nodes {
		for range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n {
					d := c.Take(context.Background(), req)
					if d.Degraded {
						degraded.Add(1)
					}
					if d.Allowed {
						admitted.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	if n := degraded.Load(); n > 0 {
		t.Fatalf("%d degraded decisions", n)
	}
	return int(admitted.Load())
}
