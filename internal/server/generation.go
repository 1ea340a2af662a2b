package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/aggregate"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/lambda"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/plugins/cors"
	"github.com/gantry-dev/gantry/internal/plugins/ratelimit"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/router"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/upstream/health"
	"github.com/gantry-dev/gantry/internal/usage"
	"github.com/gantry-dev/gantry/internal/wire"
)

// generation is one planned configuration: immutable once built, served
// until a reload swaps in the next one.
type generation struct {
	id     uint64
	cfg    *config.Config
	table  *router.Table
	pools  map[string]*upstream.Pool
	loaded time.Time
	ctx    context.Context
	cancel context.CancelFunc
	// subjects maps JWT subjects to the config file's consumers.
	subjects map[string]*pipeline.Consumer
	// auth holds the authentication methods this generation uses.
	auth *authSet
	// cert is server.tls's certificate, nil without TLS. Only the first
	// generation's is served (server is restart-only), but every plan
	// loads it so that a file that would not start is refused.
	cert *tls.Certificate
	// consumers and keys are the config file's consumers as storage
	// rows, written by activate.
	consumers []store.Consumer
	keys      []store.APIKey
	// handlers are the routes' handlers, whose metrics swap binds.
	handlers []*routeHandler
}

// retire stops what the generation started: health checkers and DNS
// refreshers.
func (g *generation) retire() {
	if g.cancel != nil {
		g.cancel()
	}
}

// start runs what the generation needs while in force: each pool's DNS
// refresher and active health checks, under the generation's context so
// that retire stops them. It also publishes the targets' health gauges.
// Plans for validation never reach it.
func (g *generation) start(log *slog.Logger) {
	for _, name := range sortedNames(g.pools) {
		p := g.pools[name]
		p.Start(g.ctx)
		health.Start(g.ctx, p, log)
	}
}

// targetKeys lists the upstream state keys of the generation's targets.
func (g *generation) targetKeys() []upstream.Key {
	var out []upstream.Key
	for _, p := range g.pools {
		out = append(out, p.Keys()...)
	}
	return out
}

// routeHandler is what the router holds for each route: the pre-built chain
// plus the per-route response policy the server applies around it (CORS,
// units), to relayed answers and gateway errors alike.
type routeHandler struct {
	name    string
	chain   pipeline.Handler
	cors    *cors.Policy
	metrics *telemetry.RouteMetrics
	// units is the route's units_header ("" for none).
	units string
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	return h.chain.ServeHTTP(w, r)
}

// Plan builds everything a generation of cfg needs, as a reload or a
// start would, and discards it: what `gantry validate` runs. It does no
// I/O beyond reading the files cfg names. All problems are returned at
// once, at their key paths.
func Plan(cfg *config.Config) error {
	// A throwaway State: validating must not touch the running targets.
	s := &Server{transports: proxy.NewTransports(), metrics: telemetry.NewMetrics(), state: upstream.NewState(upstream.StateOptions{}),
		counter: counter.NewMemory(counter.MemoryOptions{}), log: slog.New(slog.DiscardHandler)}
	defer s.counter.Close()
	// Storage is opened by run only; the plan never touches it.
	s.auth = newAuthRegistry(context.Background(), unopenedStore{}, s)
	g, err := s.plan(cfg)
	if err == nil {
		g.auth.discard()
	}
	return err
}

// plan is the pure step of a reload or a start: it builds every pool,
// plugin, key file, certificate and route chain of cfg, with no goroutine,
// no network and no storage write, and reports every problem at its key
// path. What it builds serves nothing until activate and swap.
func (s *Server) plan(cfg *config.Config) (*generation, error) {
	var problems config.Problems
	pools := make(map[string]*upstream.Pool, len(cfg.Upstreams))
	names := make([]string, 0, len(cfg.Upstreams))
	for name := range cfg.Upstreams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		uc := cfg.Upstreams[name]
		path := "upstreams." + name
		if uc.Lambda != nil {
			// A function has no targets: its routes get a lambda
			// terminal (see terminal), not a pool.
			if err := lambda.Check(uc.Lambda, nil); err != nil {
				problems = append(problems, config.Problem{Path: path + ".lambda", Message: err.Error()})
			}
			continue
		}
		p, err := upstream.NewPool(name, uc, s.state)
		if err != nil {
			problems = append(problems, config.Problem{Path: path, Message: err.Error()})
			continue
		}
		pools[name] = p
	}
	trusted := s.trusted
	if trusted == nil {
		var err error
		if trusted, err = forward.ParseTrusted(cfg.Server.TrustedProxies); err != nil {
			problems = append(problems, config.Problem{Path: "server.trusted_proxies", Message: err.Error()})
		}
	}

	cert, ps := planTLS(cfg.Server.TLS)
	problems = append(problems, ps...)
	consumers, keys, err := keyauth.ConfigConsumers(cfg.Consumers)
	problems = append(problems, consumerProblems(err)...)
	set, ps := s.auth.plan(cfg)
	problems = append(problems, ps...)
	plansLimit := planLimits(cfg)
	var handlers []*routeHandler
	claims := claimHeaders(cfg)
	build := func(rc *config.Route, rt *router.Route) (pipeline.Handler, error) {
		// Its metrics are bound by swap: a plan that never serves adds no
		// series.
		h := &routeHandler{name: rc.Name, units: rc.UnitsHeader}
		term, err := s.terminal(cfg, rc, rt, pools, trusted)
		if err != nil {
			return nil, err
		}
		var mws []pipeline.Middleware
		if len(rc.Auth) > 0 {
			if set == nil {
				// Reported at the provider's own key path.
				return nil, errAuthUnusable
			}
			methods, err := set.methods(rc)
			if err != nil {
				return nil, err
			}
			mws = append(mws, auth.New(auth.Config{Methods: methods, AllowGroups: rc.AllowGroups, Strip: claims}))
		} else if len(claims) > 0 {
			mws = append(mws, stripHeaders(claims))
		}
		if k := cfg.Auth.APIKey; k != nil && !slices.Contains(rc.Auth, "api_key") {
			// The key method removes the key where it reads it; a route
			// without it removes it unread: a key is never forwarded.
			mws = append([]pipeline.Middleware{stripKey(k.Header, k.Query)}, mws...)
		}
		// The body limit comes after authentication, so a refused body is
		// the consumer's refused request (in usage too), and before the
		// limits, so it costs no token.
		maxBody := int64(cfg.Server.Limits.MaxBodyBytes)
		if rc.MaxBodyBytes > 0 {
			maxBody = int64(rc.MaxBodyBytes)
		}
		mws = append(mws, bodyLimit(maxBody))
		if rc.RateLimit != nil || (len(rc.Auth) > 0 && plansLimit) {
			rl := ratelimit.Config{Counter: s.counter, Route: rc.Name, Limit: rc.RateLimit, Plans: cfg.Plans,
				OnLimited: func() { h.metrics.RateLimited() }}
			mw, err := ratelimit.New(rl)
			if err != nil {
				return nil, err
			}
			mws = append(mws, mw)
		}
		// CORS is not a step of the chain but route data: the server's
		// writer applies it to every answer of the route (see
		// responseWriter), its own errors included.
		var policy *cors.Policy
		if rc.CORS != nil {
			if policy, err = cors.New(rc.CORS, rc.Match.Methods); err != nil {
				return nil, err
			}
		}
		h.chain = pipeline.Chain(admit(term), mws...)
		h.cors = policy
		handlers = append(handlers, h)
		return h, nil
	}
	table, err := router.Compile(cfg, build)
	if err != nil {
		if rps, ok := err.(config.Problems); ok {
			problems = append(problems, withoutUnusable(rps)...)
		} else {
			problems = append(problems, config.Problem{Path: "routes", Message: err.Error()})
		}
	}
	if len(problems) > 0 {
		set.discard()
		return nil, cfg.Locate(problems)
	}
	return &generation{cfg: cfg, table: table, pools: pools, subjects: configSubjects(cfg), auth: set, cert: cert,
		consumers: consumers, keys: keys, handlers: handlers}, nil
}

// consumerProblems places keyauth.ConfigConsumers' errors, which start
// with their key path ("consumers[0].api_keys[1].hash: ..."), at that path.
func consumerProblems(err error) config.Problems {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var ps config.Problems
	for _, e := range errs {
		path, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok || !strings.HasPrefix(path, "consumers[") {
			path, msg = "consumers", e.Error()
		}
		ps = append(ps, config.Problem{Path: path, Message: msg})
	}
	return ps
}

// errAuthUnusable marks a route whose authentication could not be built;
// the cause is reported where it belongs (auth.jwt[0].public_key_file),
// not again at every route.
var errAuthUnusable = errors.New("authentication is not usable")

func withoutUnusable(ps config.Problems) config.Problems {
	out := ps[:0:0]
	for _, p := range ps {
		if p.Message != errAuthUnusable.Error() {
			out = append(out, p)
		}
	}
	return out
}

// activate is the second step: it starts what the plan built and writes
// what must be shared, in that order: the authentication methods the plan
// built (JWKS first fetch, the key cache's change feed), then the config
// file's consumers into storage, last, so that a failure leaves storage
// as the serving generation knows it. On failure what activate started is
// closed and g must not be swapped in.
func (s *Server) activate(g *generation) error {
	s.auth.start(g.auth)
	if s.store != nil {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := s.store.SyncConfig(ctx, g.consumers, g.keys); err != nil {
			g.auth.discard()
			return fmt.Errorf("storing the config file's consumers: %w", err)
		}
	}
	return nil
}

// swap makes g the generation new requests see, and retires the old one.
// It cannot fail: everything that can was done by plan and activate.
// Requests already running keep the generation they loaded.
func (s *Server) swap(g *generation) {
	for _, h := range g.handlers {
		h.metrics = s.metrics.Route(h.name)
	}
	s.genSeq++
	g.id = s.genSeq
	g.loaded = time.Now()
	g.ctx, g.cancel = context.WithCancel(context.Background())
	old := s.gen.Swap(g)
	if old != nil {
		old.retire()
	}
	// Targets the new generation no longer has are forgotten, so reloads
	// do not accumulate state. Before start: from then on the DNS
	// refreshers add and drop addresses themselves.
	s.state.Retain(g.targetKeys())
	names := make([]string, len(g.cfg.Routes))
	for i, rc := range g.cfg.Routes {
		names[i] = rc.Name
	}
	s.websockets.Retain(names)
	s.auth.commit(g.auth)
	g.start(s.log)
	s.metrics.SetGeneration(g.id)
	if s.meter != nil {
		s.meter.SetVersions(usage.ConfigVersions(g.cfg))
	}
}

// claimHeaders returns the canonical names of every header a JWT
// provider's forward_claims sets. They are the gateway's own on every
// route, not only on routes of that provider: an upstream that reads
// X-User-Sub behind one route is often the upstream of another, public or
// keyed, route too, and must never get a client's copy from it (#13).
func claimHeaders(cfg *config.Config) []string {
	var hs []string
	for _, j := range cfg.Auth.JWT {
		for _, h := range j.ForwardClaims {
			h = http.CanonicalHeaderKey(h)
			if !slices.Contains(hs, h) {
				hs = append(hs, h)
			}
		}
	}
	slices.Sort(hs)
	return hs
}

// stripHeaders removes the named request headers, in any case, on a
// route without auth, where no credential can set them.
func stripHeaders(names []string) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			auth.StripFold(r.Header, names)
			return next.ServeHTTP(w, r)
		})
	}
}

// stripKey removes the API key header and query parameter on a route whose
// auth does not read keys.
func stripKey(header, query string) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			keyauth.StripKey(r, header, query)
			return next.ServeHTTP(w, r)
		})
	}
}

// planLimits reports whether any plan has a rate limit or a quota, which
// routes with authentication then apply to their consumers.
func planLimits(cfg *config.Config) bool {
	for _, p := range cfg.Plans {
		if p != nil && (p.RateLimit != nil || p.Quota != nil) {
			return true
		}
	}
	return false
}

// admit marks a request that passed every gate of its route
// (authentication, limits, quota): from here on it counts against quotas
// and may be billed.
func admit(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if x := pipeline.ExchangeOf(r); x != nil {
			x.Admitted = true
		}
		return next.ServeHTTP(w, r)
	})
}

// terminal builds what ends a route's chain: the proxy to its upstream, or
// the aggregate of several calls.
func (s *Server) terminal(cfg *config.Config, rc *config.Route, rt *router.Route, pools map[string]*upstream.Pool, trusted []netip.Prefix) (pipeline.Handler, error) {
	if rc.Aggregate != nil {
		return aggregate.New(rc, aggregate.Deps{
			Pools:          pools,
			Upstreams:      cfg.Upstreams,
			Transports:     s.transports,
			TrustedProxies: trusted,
			Logger:         s.log,
			At:             fmt.Sprintf("routes[%d]", rt.Index),
		})
	}
	if up := cfg.Upstreams[rc.Upstream]; up != nil && up.Lambda != nil {
		if rc.WebSocket != nil {
			return nil, fmt.Errorf("upstream %q is a lambda function, which cannot take WebSocket connections", rc.Upstream)
		}
		if lambda.Check(up.Lambda, nil) != nil {
			// Reported on the upstream already.
			return nil, fmt.Errorf("upstream %q is not usable", rc.Upstream)
		}
		h, err := lambda.New(rc.Upstream, up, rc, lambda.Options{
			TrustedProxies: trusted,
			Transport:      s.transports.Get(up.Timeouts.Connect.D(), up.Timeouts.Response.D()),
			Logger:         s.log,
			Metrics:        s.metrics,
		})
		if err != nil {
			return nil, fmt.Errorf("upstreams.%s.lambda: %w", rc.Upstream, err)
		}
		return h, nil
	}
	pool := pools[rc.Upstream]
	if pool == nil {
		return nil, fmt.Errorf("upstream %q is not usable", rc.Upstream)
	}
	return proxy.New(pool, cfg.Upstreams[rc.Upstream], rc, proxy.Options{
		TrustedProxies: trusted,
		Transports:     s.transports,
		EscapePath:     wire.EscapePath,
		Logger:         s.log,
		Metrics:        s.metrics,
		WebSockets:     s.websockets,
	})
}
