package counter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Sync is how a Redis counter shares its counts.
type Sync uint8

// The sync modes.
const (
	// syncExact makes one Redis round trip per decision.
	syncExact Sync = iota
	// syncBatched decides locally from leases of the shared budget and
	// settles with Redis when a lease runs out and every batch window.
	syncBatched
)

// parseSync reads exact or batched (counters.sync).
func parseSync(s string) (Sync, bool) {
	switch s {
	case "exact", "":
		return syncExact, true
	case "batched":
		return syncBatched, true
	}
	return 0, false
}

// RedisOptions configures NewRedis.
type RedisOptions struct {
	// URL is a redis:// or rediss:// URL (counters.redis_url). Ignored
	// when Client is set.
	URL string
	// Client, when set, is used instead of dialing URL, and is not closed
	// by Close. A *redis.ClusterClient works: keys of one identity share a
	// hash slot, and a decision whose keys span slots runs one script per
	// slot, giving back what it took when another slot refuses.
	Client redis.UniversalClient
	// Prefix starts every key (counters.key_prefix). Default "gantry".
	Prefix string
	// OnFailure is the answer while Redis cannot be reached.
	OnFailure FailureMode
	// Sync is exact (default) or batched.
	Sync Sync
	// BatchWindow is how often a batched node settles. Default 50ms.
	BatchWindow time.Duration
	// DialTimeout bounds connecting. Default 150ms.
	DialTimeout time.Duration
	// Timeout bounds each read and write. Default 100ms. A decision is not
	// retried: on failure it answers OnFailure.
	Timeout time.Duration
	// ProbeMin and ProbeMax bound the pauses between pings while Redis is
	// unreachable: the first ping is ProbeMin after the breaker opens, and
	// each pause doubles up to ProbeMax. Defaults 100ms and 2s, so the end
	// of an outage is noticed within 2s, however long it lasted.
	ProbeMin, ProbeMax time.Duration
	// Logger receives one line per change of Redis's reachability.
	// Default slog.Default().
	Logger *slog.Logger
	// OnStateChange, when set, is called with false when Redis becomes
	// unreachable and with true when it is back (for a metric).
	OnStateChange func(up bool)
	// OnError, when set, is called on every failed Redis call.
	OnError func()
	// Now, when set, replaces the Redis server's clock (TIME) and the
	// local one. For tests: every node sharing the keys must use the same
	// clock. Unset, buckets run on the server's clock, so clock skew
	// between gateway nodes cannot refill a bucket early.
	Now func() time.Time
}

// Defaults of RedisOptions.
const (
	defaultPrefix      = "gantry"
	defaultBatchWindow = 50 * time.Millisecond
	defaultDialTimeout = 150 * time.Millisecond
	defaultTimeout     = 100 * time.Millisecond
	defaultProbeMin    = 100 * time.Millisecond
	defaultProbeMax    = 2 * time.Second
)

func (o *RedisOptions) setDefaults() {
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = defaultBatchWindow
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.ProbeMin <= 0 {
		o.ProbeMin = defaultProbeMin
	}
	if o.ProbeMax < o.ProbeMin {
		o.ProbeMax = max(defaultProbeMax, o.ProbeMin)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Redis counts in Redis, shared by every gateway node using the same
// Redis and prefix. It is safe for concurrent use.
type Redis struct {
	client redis.UniversalClient
	own    bool
	prefix string
	mode   FailureMode
	now    func() time.Time
	// split is set for Cluster clients: keys of different tags may live on
	// different nodes, so one script cannot touch them all.
	split  bool
	br     *breaker
	leases *leases
}

var _ Counter = (*Redis)(nil)

// NewRedis connects (lazily) and checks Redis once; an unreachable Redis
// is not an error: decisions answer OnFailure until it is back.
func NewRedis(o RedisOptions) (*Redis, error) {
	o.setDefaults()
	client, own := o.Client, false
	if client == nil {
		opt, err := clientOptions(o)
		if err != nil {
			return nil, err
		}
		client, own = redis.NewClient(opt), true
	}
	r := &Redis{client: client, own: own, prefix: o.Prefix, mode: o.OnFailure, now: o.Now}
	_, r.split = client.(*redis.ClusterClient)
	r.br = newBreaker(r.Ping, &o)
	ctx, cancel := context.WithTimeout(context.Background(), o.DialTimeout+o.Timeout)
	err := r.Ping(ctx)
	cancel()
	if err != nil {
		// Unreachable at start: no request should wait to find out.
		r.br.failNow(err)
	}
	if o.Sync == syncBatched {
		r.leases = newLeases(r, o.BatchWindow)
	}
	return r, nil
}

func clientOptions(o RedisOptions) (*redis.Options, error) {
	// url.Parse errors quote the URL, password included: say less.
	if _, err := url.Parse(o.URL); err != nil {
		return nil, errors.New("counters.redis_url is not a valid URL")
	}
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("counters.redis_url: %w", err)
	}
	opt.DialTimeout = o.DialTimeout
	opt.ReadTimeout = o.Timeout
	opt.WriteTimeout = o.Timeout
	// Waiting for a free connection counts against the same budget.
	opt.PoolTimeout = o.DialTimeout + 2*o.Timeout
	// A decision is never retried: a slow answer costs the request more
	// than the fallback does.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opt, nil
}

// key returns the Redis key of a bucket or quota. The hash tag is the
// prefix and the identity, so all keys of one identity share a Cluster
// slot; names hold no '}', so no tag can be read as another.
func (r *Redis) key(tag, name string) string {
	return "{" + r.prefix + ":" + tag + "}:" + name
}

// nowArg is the time argument of the scripts: "" asks for the server's.
func (r *Redis) nowArg() string {
	if r.now == nil {
		return ""
	}
	return strconv.FormatInt(r.now().UnixMicro(), 10)
}

func periodArg(p Period) string {
	switch p {
	case periodHour:
		return "h"
	case periodDay:
		return "d"
	}
	return "m"
}

// Take decides req: in exact mode with one script, one round trip; in
// batched mode from the node's leases.
func (r *Redis) Take(ctx context.Context, req Request) Decision {
	if r.leases != nil {
		return r.leases.take(ctx, req)
	}
	if !r.br.up() {
		return fallback(r.mode)
	}
	if r.split {
		if parts, n := byTag(&req, allOf(&req)); n > 1 {
			return r.takeSplit(ctx, req, parts[:n])
		}
	}
	d, err := r.decide(ctx, &req, allOf(&req))
	if err != nil {
		return r.failed(ctx, err)
	}
	r.br.succeeded()
	return d
}

// failed turns an error into the fallback. It opens the breaker unless
// the request itself was cancelled or this node ran out of connections
// (local congestion, not a dead Redis).
func (r *Redis) failed(ctx context.Context, err error) Decision {
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted):
		r.br.errored()
	default:
		r.br.fail(err)
	}
	return fallback(r.mode)
}

// part selects buckets of a request (a bit per index) and maybe its quota.
type part struct {
	buckets uint8
	quota   bool
}

func allOf(req *Request) part {
	return part{buckets: uint8(1)<<req.N - 1, quota: req.Quota.Limit > 0}
}

// decide runs decideScript over part p of req. The Decision's bucket
// states are filled for p's buckets only.
func (r *Redis) decide(ctx context.Context, req *Request, p part) (Decision, error) {
	return r.run(ctx, decideScript, req, p, nil)
}

// run runs script over part p of req: decideScript, or tokenScript when
// spend names the tokens to take (0 to only check). Both take the same
// keys and arguments (tokenScript one more, spend) and answer the same
// values; a token quota may be overdrawn (an answer's tokens are spent
// when it ends), so its Remaining can be below zero, while a request
// quota's is never shown so.
func (r *Redis) run(ctx context.Context, script *redis.Script, req *Request, p part, spend *int64) (Decision, error) {
	var keyBuf [maxBuckets + 1]string
	var argBuf [5 + 2*maxBuckets]any
	keys, args := keyBuf[:0], argBuf[:0]
	args = append(args, r.nowArg(), 0, int64(0), "")
	if spend != nil {
		args = append(args, *spend)
	}
	var idx [maxBuckets]int
	nb := 0
	for i := 0; i < req.N; i++ {
		if p.buckets&(1<<i) == 0 {
			continue
		}
		b := &req.Buckets[i]
		keys = append(keys, r.key(b.Tag, b.Name))
		args = append(args, b.Rate.intervalMicros(), b.Rate.burst())
		idx[nb] = i
		nb++
	}
	args[1] = nb
	if q := &req.Quota; p.quota {
		keys = append(keys, r.key(q.Tag, q.Name))
		args[2], args[3] = q.Limit, periodArg(q.Per)
	}
	res, err := script.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 6+2*nb {
		return Decision{}, fmt.Errorf("counter script answered %d values, want %d", len(res), 6+2*nb)
	}
	d := Decision{
		Allowed:    res[0] == 1,
		Reason:     Reason(res[1]),
		RetryAfter: time.Duration(res[3]) * time.Microsecond,
	}
	if res[2] > 0 {
		d.Bucket = idx[res[2]-1]
	}
	if p.quota {
		remaining := res[4]
		if spend == nil {
			remaining = max(0, remaining)
		}
		d.Quota = State{Limit: req.Quota.Limit, Remaining: remaining, Reset: time.Duration(res[5]) * time.Microsecond}
	}
	for j := range nb {
		i := idx[j]
		d.Buckets[i] = State{
			Limit:     req.Buckets[i].Rate.burst(),
			Remaining: res[6+2*j],
			Reset:     time.Duration(res[7+2*j]) * time.Microsecond,
		}
	}
	return d, nil
}

// byTag splits part p of req into parts of one tag each, in the order the
// tags first appear: on a Cluster, one script reaches the keys of one tag
// only.
func byTag(req *Request, p part) (parts [maxBuckets + 1]part, n int) {
	var tags [maxBuckets + 1]string
	group := func(tag string) *part {
		for i := range n {
			if tags[i] == tag {
				return &parts[i]
			}
		}
		tags[n] = tag
		n++
		return &parts[n-1]
	}
	for i := 0; i < req.N; i++ {
		if p.buckets&(1<<i) != 0 {
			group(req.Buckets[i].Tag).buckets |= 1 << i
		}
	}
	if p.quota {
		group(req.Quota.Tag).quota = true
	}
	return parts, n
}

// takeSplit decides a request whose keys live in several Cluster slots:
// one script per tag (parts, from byTag), each all-or-nothing; when one
// refuses, those that admitted are refunded, so tokens and quota are still
// taken only when everything admits.
func (r *Redis) takeSplit(ctx context.Context, req Request, parts []part) Decision {
	out := Decision{Allowed: true}
	var admitted [maxBuckets + 1]part
	na := 0
	for _, p := range parts {
		d, err := r.decide(ctx, &req, p)
		if err != nil {
			r.refund(ctx, &req, admitted[:na])
			return r.failed(ctx, err)
		}
		merge(&out, &d, &req, p)
		if d.Allowed {
			admitted[na] = p
			na++
		}
	}
	if !out.Allowed {
		r.refund(ctx, &req, admitted[:na])
		for _, p := range admitted[:na] {
			giveBackState(&out, &req, p)
		}
	}
	return out
}

// giveBackState corrects the states of a refunded part: each has its
// token or unit back.
func giveBackState(d *Decision, req *Request, p part) {
	for i := 0; i < req.N; i++ {
		if p.buckets&(1<<i) != 0 {
			s := &d.Buckets[i]
			s.Remaining = min(s.Limit, s.Remaining+1)
			s.Reset = 0
		}
	}
	if p.quota {
		d.Quota.Remaining = min(d.Quota.Limit, d.Quota.Remaining+1)
	}
}

// merge folds the decision over part p into out.
func merge(out, d *Decision, req *Request, p part) {
	for i := 0; i < req.N; i++ {
		if p.buckets&(1<<i) != 0 {
			out.Buckets[i] = d.Buckets[i]
		}
	}
	if p.quota {
		out.Quota = d.Quota
	}
	if d.Allowed {
		return
	}
	out.Allowed = false
	switch {
	case d.Reason == ReasonQuota, out.Reason == reasonNone, out.Reason == reasonRate && d.RetryAfter > out.RetryAfter:
		out.Reason, out.Bucket, out.RetryAfter = d.Reason, d.Bucket, d.RetryAfter
	}
}

// refund gives back what the parts took. A failed refund leaves the
// tokens taken: the error is towards refusing, never towards admitting.
func (r *Redis) refund(ctx context.Context, req *Request, parts []part) {
	for _, p := range parts {
		var keys []string
		args := []any{r.nowArg(), 0, "0", ""}
		nb := 0
		for i := 0; i < req.N; i++ {
			if p.buckets&(1<<i) != 0 {
				keys = append(keys, r.key(req.Buckets[i].Tag, req.Buckets[i].Name))
				args = append(args, req.Buckets[i].Rate.intervalMicros())
				nb++
			}
		}
		args[1] = nb
		if p.quota {
			keys = append(keys, r.key(req.Quota.Tag, req.Quota.Name))
			args[2], args[3] = "1", periodArg(req.Quota.Per)
		}
		if err := refundScript.Run(ctx, r.client, keys, args...).Err(); err != nil && ctx.Err() == nil {
			r.br.fail(err)
		}
	}
}

// Ping checks Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	return r.client.Ping(ctx).Err()
}

// Up reports whether decisions currently reach Redis (the breaker is
// closed).
func (r *Redis) Up() bool { return r.br.up() }

// Close stops the probe and, in batched mode, settles and gives back what
// this node holds; then it closes the client it dialed.
func (r *Redis) Close() error {
	if r.leases != nil {
		r.leases.close()
	}
	r.br.close()
	if r.own {
		return r.client.Close()
	}
	return nil
}
