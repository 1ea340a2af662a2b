package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth"
	"github.com/gantry-dev/gantry/internal/plugins/auth/external"
	"github.com/gantry-dev/gantry/internal/plugins/auth/jwt"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/plugins/auth/mtls"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// AuthRegistry keeps authentication methods across reloads: a JWT provider
// holds fetched keys and a refresh loop, the key authenticator a warm cache,
// and neither should start cold because an unrelated route changed. A
// method is rebuilt only when its own configuration changes.
//
// A generation's methods go through three steps. Plan builds what the
// configuration needs, reusing the registry's methods and building the
// others cold (no goroutine, no network, no storage). Start starts what
// Plan built (the JWKS first fetch, the key cache's change feed). Commit
// registers them as the serving generation's and closes what it dropped;
// AuthSet.Discard closes what a generation that will never serve built.
// It is safe for concurrent use.
type AuthRegistry struct {
	ctx      context.Context
	store    store.Store
	log      *slog.Logger
	subjects jwt.Resolver
	// metrics receives gantry_jwks_refresh_total; nil records nothing.
	// Written once by SetMetrics before the first Plan.
	metrics *telemetry.Metrics
	// certs maps client certificates' consumer ids to consumers for the
	// mtls method; nil maps none. Written once by SetCertConsumers before
	// the first Plan.
	certs mtls.Resolver

	// Every method the serving generation uses; commit closes the rest.
	mu   sync.Mutex
	keys map[*keyauth.Authenticator]config.APIKeyAuth
	jwts map[*jwt.Provider]config.JWT
}

// NewAuthRegistry returns an empty registry. Key authenticators it builds
// read st and run under ctx; JWT providers map subjects to consumers
// through subjects.
func NewAuthRegistry(ctx context.Context, st store.Store, log *slog.Logger, subjects jwt.Resolver) *AuthRegistry {
	return &AuthRegistry{ctx: ctx, store: st, log: log, subjects: subjects, keys: map[*keyauth.Authenticator]config.APIKeyAuth{}, jwts: map[*jwt.Provider]config.JWT{}}
}

// AuthSet is what one generation uses, by name, and which of those methods
// its plan built (fresh: not started, not registered).
type AuthSet struct {
	keys *keyauth.Authenticator
	jwts map[string]*jwt.Provider
	// mtls is the client certificate method, when a route uses it; it
	// holds no state, so every plan builds its own.
	mtls *mtls.Method

	freshKeys *config.APIKeyAuth
	freshJWTs map[*jwt.Provider]config.JWT

	// externals are the generation's external authorization services, by
	// name, built by the first route that uses each (they start nothing
	// and hold only their cache, so nothing carries over a reload).
	extMu     sync.Mutex
	externals map[string]*external.Service
}

// Plan builds or reuses every method cfg's routes use, and builds every
// auth.jwt provider, used or not, so that a broken one is refused before
// a route comes to use it. Problems are reported at their own key path
// (auth.jwt[0].public_key_file). It starts nothing and registers nothing.
func (a *AuthRegistry) Plan(cfg *config.Config) (*AuthSet, config.Problems) {
	a.mu.Lock()
	defer a.mu.Unlock()
	set := &AuthSet{jwts: map[string]*jwt.Provider{}, freshJWTs: map[*jwt.Provider]config.JWT{}}
	var ps config.Problems
	used := map[string]bool{}
	keyRoute := -1
	for i, rc := range cfg.Routes {
		for _, m := range rc.Auth {
			if m == "api_key" && keyRoute < 0 {
				keyRoute = i
			}
			used[m] = true
		}
	}
	if cfg.Portal != nil {
		// The portal signs consumers in with these providers' tokens.
		for _, n := range cfg.Portal.JWT {
			used["jwt:"+n] = true
		}
	}
	for i, jc := range cfg.Auth.JWT {
		if jc == nil {
			continue
		}
		p, fresh, err := a.jwt(jc)
		if err != nil {
			path := fmt.Sprintf("auth.jwt[%d]", i)
			var kf *jwt.KeyFileError
			if errors.As(err, &kf) {
				path += ".public_key_file"
			}
			ps = append(ps, config.Problem{Path: path, Message: err.Error()})
			continue
		}
		if !used["jwt:"+jc.Name] {
			// Checked, never started: nothing to keep.
			if fresh {
				p.Close()
			}
			continue
		}
		set.jwts[jc.Name] = p
		if fresh {
			set.freshJWTs[p] = *jc
		}
	}
	if keyRoute >= 0 {
		want := config.APIKeyAuth{Header: "X-API-Key"}
		if cfg.Auth.APIKey != nil {
			want = *cfg.Auth.APIKey
		}
		k, fresh, err := a.keyAuth(want)
		switch {
		case err != nil:
			path := "auth.api_key"
			if cfg.Auth.APIKey == nil {
				path = fmt.Sprintf("routes[%d].auth", keyRoute)
			}
			ps = append(ps, config.Problem{Path: path, Message: err.Error()})
		default:
			set.keys = k
			if fresh {
				set.freshKeys = &want
			}
		}
	}
	if used[mtls.Name] {
		set.mtls = mtls.New(cfg.Auth.MTLS, a.certs)
	}
	if len(ps) > 0 {
		set.Discard()
		return nil, ps
	}
	return set, nil
}

// keyAuth returns the registry's key authenticator for want, or builds one
// (fresh).
func (a *AuthRegistry) keyAuth(want config.APIKeyAuth) (k *keyauth.Authenticator, fresh bool, err error) {
	if a.store == nil {
		return nil, false, fmt.Errorf("api_key authentication needs storage")
	}
	for k, c := range a.keys {
		if c == want {
			return k, false, nil
		}
	}
	k, err = keyauth.Build(a.ctx, keyauth.Options{Header: want.Header, Query: want.Query, Store: a.store, Logger: a.log})
	return k, err == nil, err
}

// SetCertConsumers gives the mtls methods the registry builds from now on
// the resolver of their consumer ids. Call it before the first Plan.
func (a *AuthRegistry) SetCertConsumers(r mtls.Resolver) { a.certs = r }

// SetMetrics gives the JWT providers the registry builds from now on the
// metrics their JWKS fetches count in. Call it before the first Plan.
func (a *AuthRegistry) SetMetrics(m *telemetry.Metrics) { a.metrics = m }

// jwt returns the registry's provider for jc, or builds one (fresh).
func (a *AuthRegistry) jwt(jc *config.JWT) (p *jwt.Provider, fresh bool, err error) {
	for p, c := range a.jwts {
		if reflect.DeepEqual(c, *jc) {
			return p, false, nil
		}
	}
	opts := jwt.Options{Logger: a.log}
	if m, name := a.metrics, jc.Name; m != nil {
		opts.OnFetch = func(ok bool) { m.JWKSRefreshed(name, ok) }
	}
	p, err = jwt.Build(jc, a.subjects, opts)
	return p, err == nil, err
}

// Start starts what set's plan built: the key cache's change feed and
// each JWKS provider's first fetch (waiting for it, up to its timeout).
func (a *AuthRegistry) Start(set *AuthSet) {
	if set.freshKeys != nil {
		set.keys.Start()
	}
	for p := range set.freshJWTs {
		p.Start(a.ctx)
	}
}

// methods returns the route's authentication methods from set.
// JWT returns the generation's auth.jwt provider name, nil when no route
// and not portal.jwt uses it.
func (set *AuthSet) JWT(name string) *jwt.Provider { return set.jwts[name] }

func (set *AuthSet) methods(rc *config.Route) ([]auth.Method, error) {
	var out []auth.Method
	for _, m := range rc.Auth {
		switch {
		case m == "api_key":
			if set.keys == nil {
				return nil, fmt.Errorf("api_key authentication is not usable")
			}
			out = append(out, keyMethod{set.keys})
		case m == mtls.Name:
			if set.mtls == nil {
				return nil, fmt.Errorf("mtls authentication is not usable")
			}
			out = append(out, mtlsMethod{set.mtls})
		case strings.HasPrefix(m, "external:"):
			// A gate, not a credential method: see gates.
		case strings.HasPrefix(m, "jwt:"):
			name := strings.TrimPrefix(m, "jwt:")
			p := set.jwts[name]
			if p == nil {
				return nil, fmt.Errorf("no jwt provider %q", name)
			}
			out = append(out, jwtMethod{p})
		default:
			return nil, fmt.Errorf("unknown auth method %q", m)
		}
	}
	return out, nil
}

// gates returns the route's external authorization services, built from
// env on first use and shared by every route of the generation.
func (set *AuthSet) gates(env *Env, rc *config.Route) ([]auth.Gate, error) {
	var out []auth.Gate
	for _, m := range rc.Auth {
		name, ok := strings.CutPrefix(m, "external:")
		if !ok {
			continue
		}
		s, err := set.external(env, name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (set *AuthSet) external(env *Env, name string) (*external.Service, error) {
	set.extMu.Lock()
	defer set.extMu.Unlock()
	if s := set.externals[name]; s != nil {
		return s, nil
	}
	i := slices.IndexFunc(env.Config.Auth.External, func(e *config.ExternalAuth) bool { return e.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("no external authorization service %q", name)
	}
	c := env.Config.Auth.External[i]
	// The timeout bounds the whole call; connecting gets no more.
	tr := env.Transports.Get(min(c.Timeout.D(), proxy.DefaultConnectTimeout), c.Timeout.D())
	opts := external.Options{Transport: tr, Trusted: env.Trusted, Logger: env.Logger}
	if m := env.Metrics; m != nil {
		opts.OnResult = func(result string) { m.ExternalAuthChecked(name, result) }
	}
	s, err := external.Build(c, opts)
	if err != nil {
		return nil, fmt.Errorf("auth.external[%d]: %w", i, err)
	}
	if set.externals == nil {
		set.externals = map[string]*external.Service{}
	}
	set.externals[name] = s
	return s, nil
}

// Discard closes the methods set's plan built, for a generation that will
// never serve; methods it reused keep serving.
func (set *AuthSet) Discard() {
	if set == nil {
		return
	}
	if set.freshKeys != nil {
		set.keys.Close()
	}
	for p := range set.freshJWTs {
		p.Close()
	}
}

// Commit makes set the serving generation's methods: what its plan built
// joins the registry, and every method set does not use is closed.
func (a *AuthRegistry) Commit(set *AuthSet) {
	a.mu.Lock()
	if set.freshKeys != nil {
		a.keys[set.keys] = *set.freshKeys
	}
	for p, c := range set.freshJWTs {
		a.jwts[p] = c
	}
	set.freshKeys, set.freshJWTs = nil, nil
	a.mu.Unlock()
	a.retain(set)
}

// retain closes every method that set (the serving generation's) does not
// use.
func (a *AuthRegistry) retain(set *AuthSet) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := map[*jwt.Provider]bool{}
	for _, p := range set.jwts {
		keep[p] = true
	}
	for p := range a.jwts {
		if !keep[p] {
			p.Close()
			delete(a.jwts, p)
		}
	}
	for k := range a.keys {
		if k != set.keys {
			k.Close()
			delete(a.keys, k)
		}
	}
}

// Close closes every method the registry holds.
func (a *AuthRegistry) Close() { a.retain(&AuthSet{}) }

// KeyCreated tells the key caches a key was just created.
func (a *AuthRegistry) KeyCreated(hash []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.keys {
		k.Forget(hash)
	}
}

// keyMethod adapts the key authenticator to auth.Method.
type keyMethod struct{ k *keyauth.Authenticator }

func (m keyMethod) Authenticate(r *http.Request) (*pipeline.Consumer, [][2]string, bool, error) {
	c, ok, err := m.k.Authenticate(r)
	return c, nil, ok, err
}

func (m keyMethod) Challenge() string { return m.k.Challenge() }

func (keyMethod) Credential() auth.Credential { return auth.APIKey }

// jwtMethod adapts a JWT provider to auth.Method.
type jwtMethod struct{ *jwt.Provider }

func (jwtMethod) Credential() auth.Credential { return auth.Bearer }

// mtlsMethod adapts the client certificate method to auth.Method.
type mtlsMethod struct{ m *mtls.Method }

func (m mtlsMethod) Authenticate(r *http.Request) (*pipeline.Consumer, [][2]string, bool, error) {
	c, ok, err := m.m.Authenticate(r)
	return c, nil, ok, err
}

func (mtlsMethod) Challenge() string { return mtls.Challenge }

func (mtlsMethod) Credential() auth.Credential { return auth.ClientCert }
