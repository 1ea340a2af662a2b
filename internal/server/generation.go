package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/gantry-dev/gantry/internal/aggregate"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/lambda"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth"
	"github.com/gantry-dev/gantry/internal/plugins/auth/jwt"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/plugins/cors"
	"github.com/gantry-dev/gantry/internal/plugins/ratelimit"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/router"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/upstream/health"
	"github.com/gantry-dev/gantry/internal/usage"
	"github.com/gantry-dev/gantry/internal/wire"
)

// generation is one compiled configuration: immutable once built, served
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
}

// retire stops what the generation started: health checkers and DNS
// refreshers.
func (g *generation) retire() { g.cancel() }

// start runs what the generation needs while in force: each pool's DNS
// refresher and active health checks, under the generation's context so
// that retire stops them. It also publishes the targets' health gauges.
// Compiles for validation never call it.
func (g *generation) start(log *slog.Logger) {
	for _, name := range sortedNames(g.pools) {
		p := g.pools[name]
		p.Start(g.ctx)
		health.Start(g.ctx, p, log)
	}
}

// keys lists the upstream state keys of the generation's targets.
func (g *generation) keys() []upstream.Key {
	var out []upstream.Key
	for _, p := range g.pools {
		out = append(out, p.Keys()...)
	}
	return out
}

// routeHandler is what the router holds for each route: the pre-built chain
// plus the per-route settings the server applies around it.
type routeHandler struct {
	chain   pipeline.Handler
	cors    *cors.Policy
	metrics *telemetry.RouteMetrics
	// units is the route's units_header ("" for none).
	units string
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	return h.chain.ServeHTTP(w, r)
}

// Compile builds a generation from cfg without serving it; it is what
// `gantry validate` and every reload run. All problems are returned at once.
func Compile(cfg *config.Config) error {
	// A throwaway State: validating must not touch the running targets.
	s := &Server{transports: proxy.NewTransports(), metrics: telemetry.NewMetrics(), state: upstream.NewState(upstream.StateOptions{}), dry: true,
		counter: counter.NewMemory(counter.MemoryOptions{})}
	defer s.counter.Close()
	g, err := s.compile(cfg)
	if err == nil {
		g.retire()
	}
	return err
}

func (s *Server) compile(cfg *config.Config) (*generation, error) {
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
		if trusted, err = proxy.ParseTrusted(cfg.Server.TrustedProxies); err != nil {
			problems = append(problems, config.Problem{Path: "server.trusted_proxies", Message: err.Error()})
		}
	}

	set := &authSet{jwts: map[string]*jwt.Provider{}}
	plansLimit := planLimits(cfg)
	claims := claimHeaders(cfg)
	build := func(rc *config.Route, rt *router.Route) (pipeline.Handler, error) {
		term, err := s.terminal(cfg, rc, rt, pools, trusted)
		if err != nil {
			return nil, err
		}
		var mws []pipeline.Middleware
		if len(rc.Auth) > 0 && !s.dry {
			methods, err := s.auth.methods(cfg, rc, set)
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
				OnLimited: s.metrics.Route(rc.Name).RateLimited}
			mw, err := ratelimit.New(rl)
			if err != nil {
				return nil, err
			}
			mws = append(mws, mw)
		}
		var policy *cors.Policy
		if rc.CORS != nil {
			if policy, err = cors.New(rc.CORS, rc.Match.Methods); err != nil {
				return nil, err
			}
			mws = append(mws, policy.Middleware)
		}
		return &routeHandler{
			chain:   pipeline.Chain(admit(term), mws...),
			cors:    policy,
			metrics: s.metrics.Route(rc.Name),
			units:   rc.UnitsHeader,
		}, nil
	}
	table, err := router.Compile(cfg, build)
	if err != nil {
		if ps, ok := err.(config.Problems); ok {
			problems = append(problems, ps...)
		} else {
			problems = append(problems, config.Problem{Path: "routes", Message: err.Error()})
		}
	}
	if len(problems) > 0 {
		if s.auth != nil {
			// Close what this failed compile built; keep what serves now.
			cur := &authSet{}
			if g := s.gen.Load(); g != nil {
				cur = g.auth
			}
			s.auth.retain(cur)
		}
		return nil, cfg.Locate(problems)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.genSeq++
	return &generation{id: s.genSeq, cfg: cfg, table: table, pools: pools, loaded: time.Now(), ctx: ctx, cancel: cancel,
		subjects: configSubjects(cfg), auth: set}, nil
}

// swap makes g the generation new requests see, and retires the old one.
// Requests already running keep the generation they loaded.
func (s *Server) swap(g *generation) {
	old := s.gen.Swap(g)
	if old != nil {
		old.retire()
	}
	// Targets the new generation no longer has are forgotten, so reloads
	// do not accumulate state. Before start: from then on the DNS
	// refreshers add and drop addresses themselves.
	s.state.Retain(g.keys())
	names := make([]string, len(g.cfg.Routes))
	for i, rc := range g.cfg.Routes {
		names[i] = rc.Name
	}
	s.websockets.Retain(names)
	if s.auth != nil {
		s.auth.retain(g.auth)
	}
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
