package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	jwtv5 "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Resolver maps the consumer claim of a verified token to a consumer. It
// returns nil, false when no consumer lists the subject in jwt_subjects.
// It is called on the request path and must not block on storage.
type Resolver interface {
	BySubject(provider, subject string) (*pipeline.Consumer, bool)
}

// Options are the code-facing settings of a Provider; the zero value is
// ready for production.
type Options struct {
	// Logger receives JWKS fetch failures and key counts; default
	// slog.Default(). Tokens and claim values are never logged.
	Logger *slog.Logger
	// HTTPClient fetches the JWKS. Default: a client of its own with a 5 s
	// timeout that ignores proxy environment variables and refuses
	// redirects from https to http.
	HTTPClient *http.Client
	// Now is the clock for exp, nbf and iat and for the unknown-kid
	// refetch limit; default time.Now.
	Now func() time.Time
	// OnFetch, when set, is called after every JWKS fetch with its result
	// (gantry_jwks_refresh_total); a fetch cut short by Close is not
	// reported.
	OnFetch func(ok bool)

	// minRefresh and minRetry lower the background schedule's floors so
	// tests need not wait minutes.
	minRefresh time.Duration
	minRetry   time.Duration
}

// Provider verifies bearer tokens of one auth.jwt provider. It is safe for
// concurrent use; Close stops its background JWKS refresh.
type Provider struct {
	name          string
	algs          []string
	parser        *jwtv5.Parser
	secret        []byte
	keys          atomic.Pointer[keySet]
	res           Resolver
	consumerClaim string
	forward       []forwardClaim
	log           *slog.Logger
	now           func() time.Time
	leeway        time.Duration
	cache         *tokenCache
	onFetch       func(ok bool)

	// JWKS source; jwksURL is "" for a secret or a key file.
	jwksURL      string
	logURL       string
	client       *http.Client
	ownClient    bool
	fetchTimeout time.Duration
	minRefresh   time.Duration
	minRetry     time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	call      *fetchCall // the fetch in flight, shared by all who need it
	lastFetch time.Time  // start of the last fetch, by now
}

type forwardClaim struct {
	claim, header string
}

// KeyFileError is Build's error for a public_key_file that cannot be read
// or holds no usable public key, so callers can report it at that key.
type KeyFileError struct {
	Path string
	Err  error
}

func (e *KeyFileError) Error() string { return e.Err.Error() }
func (e *KeyFileError) Unwrap() error { return e.Err }

// Build makes the provider for c without starting anything: no goroutine,
// no network. A secret is used as is and a key file is read now; a failure
// there is an error (a *KeyFileError for the file). A JWKS provider has no
// keys until Start fetches them.
func Build(c *config.JWT, res Resolver, opts Options) (*Provider, error) {
	if c == nil {
		return nil, errors.New("jwt provider: no config")
	}
	if err := checkConfig(c); err != nil {
		return nil, fmt.Errorf("jwt provider %q: %w", c.Name, err)
	}
	p := &Provider{
		name:          c.Name,
		algs:          slices.Clone(c.Algorithms),
		res:           res,
		consumerClaim: c.ConsumerClaim,
		log:           opts.Logger,
		now:           opts.Now,
		minRefresh:    orDefault(opts.minRefresh, minRefresh),
		minRetry:      orDefault(opts.minRetry, minRetry),
		leeway:        c.Leeway.D(),
		cache:         newTokenCache(),
		onFetch:       opts.OnFetch,
	}
	if p.consumerClaim == "" {
		p.consumerClaim = "sub"
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("provider", c.Name)
	if p.now == nil {
		p.now = time.Now
	}
	for claim, header := range c.ForwardClaims {
		p.forward = append(p.forward, forwardClaim{claim: claim, header: http.CanonicalHeaderKey(header)})
	}
	sort.Slice(p.forward, func(i, j int) bool { return p.forward[i].claim < p.forward[j].claim })

	popts := []jwtv5.ParserOption{
		jwtv5.WithValidMethods(p.algs),
		jwtv5.WithLeeway(c.Leeway.D()),
		jwtv5.WithExpirationRequired(),
		jwtv5.WithIssuedAt(),
		jwtv5.WithTimeFunc(p.now),
		// Numbers keep their exact text for forwarded claims.
		jwtv5.WithJSONNumber(),
	}
	if c.Issuer != "" {
		popts = append(popts, jwtv5.WithIssuer(c.Issuer))
	}
	if len(c.Audiences) > 0 {
		// Any one of the configured audiences suffices.
		popts = append(popts, jwtv5.WithAudience(c.Audiences...))
	}
	p.parser = jwtv5.NewParser(popts...)
	p.ctx, p.cancel = context.WithCancel(context.Background())

	switch {
	case c.Secret != "":
		p.secret = []byte(c.Secret)
	case c.PublicKeyFile != "":
		set, err := loadPEM(c.PublicKeyFile)
		if err != nil {
			p.cancel()
			return nil, &KeyFileError{Path: c.PublicKeyFile, Err: fmt.Errorf("jwt provider %q: %w", c.Name, err)}
		}
		p.keys.Store(set)
	default:
		p.initJWKS(c.JWKSURL, opts.HTTPClient)
	}
	return p, nil
}

// Start puts a built provider to work. For a JWKS it fetches the keys
// now, waiting at most one fetch timeout (5 s by default) or until ctx is
// done, and starts the background refresh; a failed first fetch is logged
// and retried in the background, and tokens are refused until keys arrive.
// ctx bounds only this first wait; the refresh runs until Close. For a
// secret or a key file there is nothing to start. Start is called once;
// after Close it does nothing.
func (p *Provider) Start(ctx context.Context) {
	if p.jwksURL == "" {
		return
	}
	first := p.startFetch(false)
	if first == nil {
		return
	}
	p.wg.Add(1)
	go p.refreshLoop(first)
	select {
	case <-first.done:
	case <-ctx.Done():
	}
}

// checkConfig repeats the checks of config.Validate that keep tokens safe,
// so a Provider built from an unvalidated config cannot be tricked.
func checkConfig(c *config.JWT) error {
	var errs []error
	sources := 0
	for _, s := range []string{c.Secret, c.PublicKeyFile, c.JWKSURL} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		errs = append(errs, errors.New("set exactly one of jwks_url, secret or public_key_file"))
	}
	if len(c.Algorithms) == 0 {
		errs = append(errs, errors.New("no algorithms"))
	}
	for _, alg := range c.Algorithms {
		switch fam := familyOf(alg); {
		case fam == familyNone:
			errs = append(errs, fmt.Errorf("algorithm %q is not accepted", alg))
		case fam == familyHMAC && c.Secret == "":
			errs = append(errs, fmt.Errorf("%s needs a secret: an HMAC check keyed with a public key is refused", alg))
		case fam != familyHMAC && c.Secret != "":
			errs = append(errs, fmt.Errorf("%s needs a public key: a secret serves only HS256, HS384 and HS512", alg))
		}
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("jwks_url: want an http:// or https:// URL"))
		}
	}
	return errors.Join(errs...)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Name returns the provider's name, as in jwt:NAME.
func (p *Provider) Name() string { return p.name }

// Challenge returns the WWW-Authenticate value for a 401. It carries no
// error code: RFC 6750, section 3.1, asks for none when the request may
// have had no token at all, and the value is the same for every request.
func (p *Provider) Challenge() string { return `Bearer realm="gantry"` }

// ForwardedHeaders returns the canonical names of the headers
// forward_claims sets. A client-sent copy must be removed before
// authentication, like X-Consumer-ID, or a token lacking the claim would
// let the client's value through.
func (p *Provider) ForwardedHeaders() []string {
	hs := make([]string, len(p.forward))
	for i, f := range p.forward {
		hs[i] = f.header
	}
	return hs
}

// Close stops the background refresh and waits for it. It is idempotent.
func (p *Provider) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	if p.ownClient {
		p.client.CloseIdleConnections()
	}
}

// Authenticate verifies the request's bearer token. It returns ok=false and
// no error when r carries no bearer token (no Authorization header, or
// another scheme). For a valid token it returns the consumer the resolver
// maps the consumer claim to, or an anonymous consumer (ID "") when none
// does, and the forward_claims headers to set, in claim-name order. Errors
// wrap ErrInvalidToken and never contain the token. Authenticate does not
// retain r; it may wait for one JWKS fetch when the token's kid is unknown.
func (p *Provider) Authenticate(r *http.Request) (cons *pipeline.Consumer, fwd [][2]string, ok bool, err error) {
	tok, present, err := bearer(r.Header)
	if !present {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	now := p.now()
	keys := p.keys.Load()
	if v := p.cache.get(tok, keys, now); v != nil {
		return p.resolve(v.sub), v.fwd, true, nil
	}
	ctx := r.Context()
	claims := jwtv5.MapClaims{}
	t, err := p.parser.ParseWithClaims(tok, claims, func(t *jwtv5.Token) (any, error) {
		return p.keyFor(ctx, t)
	})
	if err != nil {
		return nil, nil, false, p.classify(t, err)
	}
	v := &verified{keys: keys, sub: p.subject(claims), fwd: p.forwarded(claims), until: now.Add(tokenCacheTTL)}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		if end := exp.Add(p.leeway); end.Before(v.until) {
			v.until = end
		}
	}
	if keys == p.keys.Load() {
		// Keys that arrived during this verification (a refetch for an
		// unknown kid) are cached under the next lookup's set.
		p.cache.put(tok, v)
	}
	return p.resolve(v.sub), v.fwd, true, nil
}

// keyFor picks the verification key for a token whose alg is already known
// to be one of the provider's algorithms. Only the header's alg and kid are
// read: jku, x5u, jwk and x5c name keys the token's author chose, and
// trusting them would let anyone sign.
func (p *Provider) keyFor(ctx context.Context, t *jwtv5.Token) (any, error) {
	// RFC 7515, section 4.1.11: extensions listed in crit must be
	// understood, and this verifier understands none.
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	alg := t.Method.Alg()
	switch familyOf(alg) {
	case familyNone:
		return nil, errAlgorithm
	case familyHMAC:
		if p.secret == nil {
			return nil, errAlgorithm
		}
		return p.secret, nil
	}
	if p.secret != nil {
		return nil, errAlgorithm
	}
	if p.jwksURL == "" {
		// A key file holds one key, whatever kid the token names.
		if key, _ := p.keys.Load().lookup("", false, alg); key != nil {
			return key, nil
		}
		return nil, errNoKey
	}
	kidv, hasKid := t.Header["kid"]
	kid, isString := kidv.(string)
	if hasKid && !isString {
		return nil, errMalformed
	}
	key, known := p.keys.Load().lookup(kid, hasKid, alg)
	if key != nil {
		return key, nil
	}
	if known {
		return nil, errNoKey
	}
	p.refetch(ctx)
	set := p.keys.Load()
	if set == nil {
		return nil, errNoKeysYet
	}
	if key, _ = set.lookup(kid, hasKid, alg); key == nil {
		return nil, errUnknownKey
	}
	return key, nil
}

// classify turns the library's error into one of this package's fixed
// errors: its messages may quote header values the client chose.
func (p *Provider) classify(t *jwtv5.Token, err error) error {
	var te *tokenError
	if errors.As(err, &te) {
		return te
	}
	switch {
	case errors.Is(err, jwtv5.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, jwtv5.ErrTokenSignatureInvalid):
		if t == nil || t.Method == nil || !slices.Contains(p.algs, t.Method.Alg()) {
			return errAlgorithm
		}
		return errSignature
	case errors.Is(err, jwtv5.ErrTokenUnverifiable):
		// An alg this library does not know, or none at all.
		return errAlgorithm
	case errors.Is(err, jwtv5.ErrTokenRequiredClaimMissing):
		return errMissingClaim
	case errors.Is(err, jwtv5.ErrTokenExpired):
		return errExpired
	case errors.Is(err, jwtv5.ErrTokenNotValidYet):
		return errNotYetValid
	case errors.Is(err, jwtv5.ErrTokenUsedBeforeIssued):
		return errIssuedInFuture
	case errors.Is(err, jwtv5.ErrTokenInvalidIssuer):
		return errIssuer
	case errors.Is(err, jwtv5.ErrTokenInvalidAudience):
		return errAudience
	}
	return errClaims
}

// subject returns the consumer claim: a string or a number names a
// consumer; anything else leaves the caller anonymous ("").
func (p *Provider) subject(claims jwtv5.MapClaims) string {
	switch v := claims[p.consumerClaim].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// resolve maps a subject through the resolver; unknown subjects are
// anonymous consumers.
func (p *Provider) resolve(sub string) *pipeline.Consumer {
	if sub != "" && p.res != nil {
		if c, found := p.res.BySubject(p.name, sub); found && c != nil {
			return c
		}
	}
	return &pipeline.Consumer{}
}

// forwarded formats the forward_claims present in the token. A claim whose
// value cannot be a header value (control characters) is left out rather
// than failing a request the issuer vouched for.
func (p *Provider) forwarded(claims jwtv5.MapClaims) [][2]string {
	var fwd [][2]string
	for _, f := range p.forward {
		v, ok := claims[f.claim]
		if !ok {
			continue
		}
		s, ok := formatClaim(v)
		if !ok || !validHeaderValue(s) {
			continue
		}
		if fwd == nil {
			fwd = make([][2]string, 0, len(p.forward))
		}
		fwd = append(fwd, [2]string{f.header, s})
	}
	return fwd
}
