package keyauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/store"
)

// Defaults of Options.
const (
	defaultHeader       = "X-API-Key"
	defaultPollInterval = 250 * time.Millisecond
	defaultCacheTTL     = 5 * time.Minute
	defaultNegativeTTL  = 2 * time.Second
)

const (
	// lookupTimeout bounds one store call. Lookups run detached from the
	// request that triggered them, so a burst shares one bounded call.
	lookupTimeout = 3 * time.Second
	// staleRetry is how often a stale entry is retried while storage fails.
	staleRetry = time.Second
	// logEvery spaces out repeated storage-failure log lines.
	logEvery = time.Minute
	// codeStorageUnavailable is the error code of the 503 answered when a
	// key not seen before cannot be checked.
	codeStorageUnavailable = "storage_unavailable"
)

// ErrStorageUnavailable wraps the storage failure behind a 503.
var ErrStorageUnavailable = errors.New("API key storage unavailable")

// Options configures an Authenticator.
type Options struct {
	// Header carries the key. Default X-API-Key.
	Header string
	// Query is the query parameter that may carry the key; "" (the default)
	// accepts keys only in the header.
	Query string
	// Store holds the keys. Required.
	Store store.Store
	// Logger receives storage failures (never keys). Default slog.Default().
	Logger *slog.Logger
	// PollInterval is how often the change feed is read, and so about how
	// long a revocation takes to reach this node. Default 250ms.
	PollInterval time.Duration
	// CacheTTL is how long a verified key is trusted before it is re-read
	// in the background. Default 5m. Revocations do not wait for it: the
	// change feed evicts them.
	CacheTTL time.Duration
	// NegativeTTL is how long an unknown key is remembered as unknown.
	// Default 2s: long enough to spare storage from a client retrying a bad
	// key, short enough that a key created on another node works at once.
	NegativeTTL time.Duration
	// Now returns the current time. Default time.Now; tests set it.
	Now func() time.Time
}

// Authenticator checks API keys against the store through its cache. It is
// safe for concurrent use.
type Authenticator struct {
	ex        extractor
	st        store.Store
	log       *slog.Logger
	now       func() time.Time
	poll      time.Duration
	ttl       int64
	negTTL    int64
	challenge string

	cache  *cache
	flight flight

	ctx    context.Context // ends on Close; lookups and the poller run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cursor int64 // change feed position; the poller's alone
	// synced is closed once the poller has first read the feed to its end.
	synced   chan struct{}
	caughtUp sync.Once
	lookErr  throttle
	feedErr  throttle
	oddErr   throttle
}

// Build validates o and makes the authenticator without starting
// anything: no goroutine, no storage access. Start starts its change-feed
// poller, which runs until ctx ends or Close is called; lookups run under
// ctx too.
func Build(ctx context.Context, o Options) (*Authenticator, error) {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("keyauth: Options.Store is required"))
	}
	if o.Header == "" {
		o.Header = defaultHeader
	}
	if !validToken(o.Header) {
		errs = append(errs, fmt.Errorf("keyauth: header %q is not a valid header name", o.Header))
	}
	// The query name is matched undecoded in the common case and quoted
	// in the challenge, so it must need neither escaping nor quoting.
	if o.Query != "" && (!validToken(o.Query) || strings.ContainsAny(o.Query, "#%&+")) {
		errs = append(errs, fmt.Errorf("keyauth: query parameter %q must be a token without # %% & +", o.Query))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PollInterval", &o.PollInterval, defaultPollInterval},
		{"CacheTTL", &o.CacheTTL, defaultCacheTTL},
		{"NegativeTTL", &o.NegativeTTL, defaultNegativeTTL},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("keyauth: %s must not be negative", d.name))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	challenge := fmt.Sprintf(`ApiKey realm="gantry", header="%s"`, o.Header)
	if o.Query != "" {
		challenge += fmt.Sprintf(`, query="%s"`, o.Query)
	}
	a := &Authenticator{
		ex:        extractor{header: textproto.CanonicalMIMEHeaderKey(o.Header), query: o.Query},
		st:        o.Store,
		log:       o.Logger,
		now:       o.Now,
		poll:      o.PollInterval,
		ttl:       int64(o.CacheTTL),
		negTTL:    int64(o.NegativeTTL),
		challenge: challenge,
		cache:     newCache(),
		synced:    make(chan struct{}),
	}
	a.ctx, a.cancel = context.WithCancel(ctx)
	return a, nil
}

// Start starts the change-feed poller, which keeps the cache in step with
// storage (and first reads the feed to its end). Call it once.
func (a *Authenticator) Start() {
	a.wg.Add(1)
	go a.run()
}

// validToken reports whether s is an RFC 9110 token, as header names are.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Authenticate checks the request's API key.
//
// It returns ok=false and a nil error when the request carries no key; the
// consumer and ok=true when the key is valid; and otherwise an error: a 401
// *pipeline.HTTPError wrapping ErrInvalidKey or ErrAmbiguousKey for a bad
// key, a 503 (code storage_unavailable) when a key not seen before cannot be
// checked because storage fails, and a 499 when the request ends while
// waiting for storage.
//
// Whatever the outcome, a key found in the request is removed from it
// (header deleted, query parameter cut out of r.URL.RawQuery and
// r.RequestURI, other parameters untouched), so it is never forwarded or
// logged. The returned Consumer is shared between requests and must not be
// modified.
func (a *Authenticator) Authenticate(r *http.Request) (cons *pipeline.Consumer, ok bool, err error) {
	key, present, err := a.ex.extract(r)
	if err != nil {
		return nil, false, unauthorized(err)
	}
	if !present {
		return nil, false, nil
	}
	return a.verify(r.Context(), hashKey(key))
}

// hashKey is sha256.Sum256 of key, copied through a stack buffer: the
// plain []byte(key) conversion would allocate for keys over 32 bytes.
func hashKey(key string) digest {
	if len(key) > maxKeyLen {
		return sha256.Sum256([]byte(key))
	}
	var buf [maxKeyLen]byte
	n := copy(buf[:], key)
	return sha256.Sum256(buf[:n])
}

// verify answers from the cache, or looks h up once however many requests
// are waiting for it. h is passed by value so that a hit keeps it on the
// stack.
func (a *Authenticator) verify(ctx context.Context, h digest) (*pipeline.Consumer, bool, error) {
	e, negUntil := a.cache.get(&h)
	if e != nil {
		// Cache hits need no constant-time compare: the map compared
		// hashes, which tell an attacker nothing about a key.
		if a.now().UnixNano() >= e.expires {
			a.refresh(h, e)
		}
		return e.cons, true, nil
	}
	if negUntil > a.now().UnixNano() {
		return nil, false, unauthorized(ErrInvalidKey)
	}
	miss := h
	c := a.flight.do(&miss, func() result { return a.lookup(&miss, nil) })
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, false, &pipeline.HTTPError{Status: pipeline.StatusClientClosed, Code: pipeline.CodeClientClosed, Err: ctx.Err()}
	}
	switch {
	case c.res.cons != nil:
		return c.res.cons, true, nil
	case errors.Is(c.res.err, ErrInvalidKey):
		return nil, false, unauthorized(ErrInvalidKey)
	default:
		return nil, false, unavailable(c.res.err)
	}
}

// Verify checks a presented key against st the way Authenticate does,
// without the cache: the key's SHA-256 looked up in storage, the stored
// hash compared in constant time, a revoked key refused. It returns the
// key's row (never the key itself) and its consumer; ErrInvalidKey for a
// key that is unknown or revoked, ErrStorageUnavailable wrapping the
// failure when storage cannot answer. The consumer portal signs consumers
// in with it.
func Verify(ctx context.Context, st store.Store, key string) (store.APIKey, store.Consumer, error) {
	if key == "" || len(key) > maxKeyLen {
		return store.APIKey{}, store.Consumer{}, ErrInvalidKey
	}
	h := hashKey(key)
	k, c, err := st.LookupKey(ctx, h[:])
	switch {
	case err == nil && matches(k, h[:]):
		return k, c, nil
	case err == nil || errors.Is(err, store.ErrNotFound):
		return store.APIKey{}, store.Consumer{}, ErrInvalidKey
	default:
		return store.APIKey{}, store.Consumer{}, fmt.Errorf("%w: %w", ErrStorageUnavailable, err)
	}
}

// matches reports whether the stored key k is the live key of hash h,
// comparing in constant time.
func matches(k store.APIKey, h []byte) bool {
	return subtle.ConstantTimeCompare(k.Hash, h) == 1 && k.RevokedAt == nil
}

// refresh re-reads an expired entry in the background; the request that
// noticed goes on with the entry it has.
func (a *Authenticator) refresh(h digest, old *entry) {
	a.flight.do(&h, func() result { return a.lookup(&h, old) })
}

// lookup asks the store about h and caches the answer. stale is the expired
// entry being refreshed, nil for a miss; while storage fails it stays in
// use and is retried after staleRetry.
func (a *Authenticator) lookup(h *digest, stale *entry) result {
	since := a.cache.begin()
	ctx, cancel := context.WithTimeout(a.ctx, lookupTimeout)
	k, c, err := a.st.LookupKey(ctx, h[:])
	cancel()
	now := a.now().UnixNano()
	switch {
	case err == nil && matches(k, h[:]):
		cons := &pipeline.Consumer{ID: c.ID, Plan: c.Plan, Groups: slices.Clone(c.Groups)}
		a.cache.putPositive(h, &entry{cons: cons, keyID: k.ID, expires: now + a.ttl}, since)
		return result{cons: cons}
	case err == nil:
		// The store answered with a key that is not this one (or a revoked
		// one): refuse it, and say so, since it means a store bug.
		if a.oddErr.ok(now) {
			a.log.Error("api key store returned a non-matching or revoked key; refusing it", "key_id", k.ID)
		}
		fallthrough
	case errors.Is(err, store.ErrNotFound):
		if stale != nil {
			// The change feed should have dropped it already; this is the
			// TTL catching what the feed missed.
			a.log.Info("cached api key no longer valid; dropped", "key_id", stale.keyID)
		}
		a.cache.putNegative(h, now+a.negTTL, since)
		return result{err: ErrInvalidKey}
	default:
		if stale != nil {
			a.cache.extend(h, stale, now+min(int64(staleRetry), a.ttl))
		}
		if a.ctx.Err() == nil && a.lookErr.ok(now) {
			msg := "api key lookup failed; unknown keys get 503"
			if stale != nil {
				msg = "api key refresh failed; serving cached keys"
			}
			a.log.Warn(msg, "error", err)
		}
		return result{err: fmt.Errorf("%w: %w", ErrStorageUnavailable, err)}
	}
}

// unauthorized is the 401 for a bad key; the auth plugin adds
// WWW-Authenticate. Its message must never quote the key.
func unauthorized(err error) error {
	return &pipeline.HTTPError{Status: http.StatusUnauthorized, Code: pipeline.CodeUnauthorized, Err: err}
}

// unavailable is the 503 for a key that cannot be checked now.
func unavailable(err error) error {
	return &pipeline.HTTPError{
		Status:  http.StatusServiceUnavailable,
		Code:    codeStorageUnavailable,
		Message: "API keys cannot be checked right now",
		Header:  http.Header{"Retry-After": {"1"}},
		Err:     err,
	}
}

// Challenge returns the WWW-Authenticate value for this method, such as
// `ApiKey realm="gantry", header="X-API-Key"`.
func (a *Authenticator) Challenge() string { return a.challenge }

// Forget drops what the cache knows about the key with this SHA-256 hash.
// The admin API calls it after creating a key (so a recent "unknown" answer
// does not outlive it) and after revoking one (so this node refuses it at
// once; other nodes learn from the change feed).
func (a *Authenticator) Forget(hash []byte) {
	if len(hash) != sha256.Size {
		return
	}
	a.cache.forget((*digest)(hash))
}

// ForgetConsumer drops every cached key of the consumer, for the admin API
// after deleting a consumer or changing its plan or groups.
func (a *Authenticator) ForgetConsumer(id string) { a.cache.forgetConsumer(id) }

// Close stops the poller and waits for it. Lookups still in flight end with
// a storage error. Close is idempotent.
func (a *Authenticator) Close() {
	a.cancel()
	a.wg.Wait()
}
