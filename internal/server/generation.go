package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/route"
	"github.com/gantry-dev/gantry/internal/router"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/upstream/health"
	"github.com/gantry-dev/gantry/internal/usage"
)

// generation is one planned configuration: immutable once built, served
// until a reload swaps in the next one.
type generation struct {
	id    uint64
	cfg   *config.Config
	table *router.Table
	pools map[string]*upstream.Pool
	// upTLS are the upstreams' loaded tls blocks, which their health
	// checks use as their requests do.
	upTLS  map[string]*proxy.ClientTLS
	loaded time.Time
	ctx    context.Context
	cancel context.CancelFunc
	// subjects maps JWT subjects to the config file's consumers.
	subjects map[string]*pipeline.Consumer
	// byID maps the config file's consumer ids to consumers (client
	// certificates' ids, auth.mtls).
	byID map[string]*pipeline.Consumer
	// auth holds the authentication methods this generation uses.
	auth *route.AuthSet
	// tls is server.tls planned, nil without TLS. Only the first
	// generation's is served (server is restart-only; its certificate
	// files are read again when they change), but every plan loads it so
	// that a file that would not start is refused.
	tls *serverTLS
	// warnings are what the plan found worth saying but not refusing (a
	// certificate close to its expiry).
	warnings []string
	// consumers and keys are the config file's consumers as storage
	// rows, written by activate.
	consumers []store.Consumer
	keys      []store.APIKey
	// routes are the routes' handlers by their index in cfg.Routes (that
	// of the router.Route matched), whose metrics swap binds.
	routes []*route.Route
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
		health.Start(g.ctx, p, log, g.upTLS[name].Config(nil))
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

// planner holds exactly what a plan reads: the parts of the running
// process a generation's routes are built over. Run gets it from its
// Server (Server.planner), validate builds it from inert parts (Plan);
// both then run the same plan, so they refuse the same files.
type planner struct {
	log     *slog.Logger
	metrics *telemetry.Metrics
	counter counter.Counter
	cache   *cache.Cache
	// state is the upstream targets' runtime state the pools join.
	state      *upstream.State
	transports *proxy.Transports
	websockets *proxy.WebSockets
	// trusted are the peers whose forwarding headers are believed; nil
	// takes them from the planned file's server.trusted_proxies.
	trusted []netip.Prefix
	auth    authPlanner
	// tracing is set when the routes' steps make spans.
	tracing bool
}

// authPlanner is the planning part of route.AuthRegistry: it builds or
// reuses a generation's authentication methods and starts nothing.
type authPlanner interface {
	Plan(cfg *config.Config) (*route.AuthSet, config.Problems)
}

// planner returns the planner of the running server: its shared state,
// counters and authentication registry.
func (s *Server) planner() planner {
	return planner{log: s.log, metrics: s.metrics, counter: s.counter, cache: s.cache, state: s.state, transports: s.transports,
		websockets: s.websockets, trusted: s.trusted, auth: s.auth, tracing: s.tracing != nil}
}

// Plan builds everything a generation of cfg needs, as a reload or a
// start would, and discards it: what `gantry validate` runs. It does no
// I/O beyond reading the files cfg names. All problems are returned at
// once, at their key paths.
func Plan(cfg *config.Config) error {
	_, err := Check(cfg)
	return err
}

// Check is Plan that also returns the plan's warnings (a certificate that
// expires within 14 days), which refuse nothing.
func Check(cfg *config.Config) (warnings []string, err error) {
	log := slog.New(slog.DiscardHandler)
	// Private, throwaway parts: validating touches no running target or
	// counter.
	ctr := counter.NewMemory(counter.MemoryOptions{})
	defer ctr.Close()
	// Storage is opened by run only; the plan never touches it, and a
	// validated plan is never started.
	auth := route.NewAuthRegistry(context.Background(), unopenedStore{}, log, noSubjects{})
	p := planner{log: log, metrics: telemetry.NewMetrics(), counter: ctr, cache: cache.New(cache.Options{Store: cache.NewMemory(1)}), state: upstream.NewState(upstream.StateOptions{}),
		transports: proxy.NewTransports(), websockets: proxy.NewWebSockets(), auth: auth}
	g, err := p.plan(cfg)
	if err != nil {
		return nil, err
	}
	g.auth.Discard()
	return g.warnings, nil
}

// plan is the pure step of a reload or a start: it builds every pool,
// plugin, key file, certificate and route chain of cfg, with no goroutine,
// no network and no storage write, and reports every problem at its key
// path. What it builds serves nothing until activate and swap.
func (p planner) plan(cfg *config.Config) (*generation, error) {
	pools, problems := route.Pools(cfg, p.state)
	trusted := p.trusted
	if trusted == nil {
		var err error
		if trusted, err = forward.ParseTrusted(cfg.Server.TrustedProxies); err != nil {
			problems = append(problems, config.Problem{Path: "server.trusted_proxies", Message: err.Error()})
		}
	}

	stls, warnings, ps := planTLS(cfg.Server.TLS, p.log, time.Now())
	problems = append(problems, ps...)
	upTLS, ps := route.UpstreamTLS(cfg, time.Now())
	problems = append(problems, ps...)
	for _, name := range sortedNames(upTLS) {
		if upTLS[name].InsecureSkipVerify() {
			p.log.Warn("upstream certificates are not verified: insecure_skip_verify is set", "upstream", name)
		}
		warnings = append(warnings, upTLS[name].Warnings()...)
	}
	for _, w := range warnings {
		p.log.Warn("configuration warning", "warning", w)
	}
	consumers, keys, err := keyauth.ConfigConsumers(cfg.Consumers)
	problems = append(problems, consumerProblems(err)...)
	set, ps := p.auth.Plan(cfg)
	problems = append(problems, ps...)
	env := &route.Env{Config: cfg, Logger: p.log, Metrics: p.metrics, Counter: p.counter, Cache: p.cache, Pools: pools,
		Relays: proxy.NewRelays(p.log), Transports: p.transports, WebSockets: p.websockets, Trusted: trusted, Auth: set, Tracing: p.tracing,
		TLS: upTLS}
	routes := make([]*route.Route, len(cfg.Routes))
	table, err := router.Compile(cfg, func(rc *config.Route, rt *router.Route) error {
		r, err := route.Build(env, rc, rt.Index)
		if err != nil {
			return err
		}
		routes[rt.Index] = r
		return nil
	})
	if err != nil {
		if rps, ok := err.(config.Problems); ok {
			problems = append(problems, withoutUnusable(rps)...)
		} else {
			problems = append(problems, config.Problem{Path: "routes", Message: err.Error()})
		}
	}
	if len(problems) > 0 {
		set.Discard()
		return nil, cfg.Locate(problems)
	}
	return &generation{cfg: cfg, table: table, pools: pools, upTLS: upTLS, subjects: configSubjects(cfg), byID: configByID(cfg), auth: set, tls: stls, warnings: warnings,
		consumers: consumers, keys: keys, routes: routes}, nil
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

// withoutUnusable drops the routes' route.ErrAuthUnusable problems: the
// cause is reported at its own key path.
func withoutUnusable(ps config.Problems) config.Problems {
	out := ps[:0:0]
	for _, p := range ps {
		if p.Message != route.ErrAuthUnusable.Error() {
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
	s.auth.Start(g.auth)
	if s.store != nil {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := s.store.SyncConfig(ctx, g.consumers, g.keys); err != nil {
			g.auth.Discard()
			return fmt.Errorf("storing the config file's consumers: %w", err)
		}
	}
	return nil
}

// swap makes g the generation new requests see, and retires the old one.
// It cannot fail: everything that can was done by plan and activate.
// Requests already running keep the generation they loaded.
func (s *Server) swap(g *generation) {
	for _, r := range g.routes {
		r.Bind(s.metrics)
	}
	// The key paths' lines only place the problems of a plan, and this
	// one had none; with 10,000 routes they are some 70,000 map entries
	// (about 4 MB) that would otherwise stay as long as g serves.
	g.cfg.Lines = nil
	s.genSeq++
	g.id = s.genSeq
	g.loaded = time.Now()
	g.ctx, g.cancel = context.WithCancel(context.Background())
	old := s.gen.Swap(g)
	if old != nil {
		old.retire()
		s.purgeChanged(old.cfg, g.cfg)
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
	// Series of routes this generation dropped go away with them.
	s.metrics.RetainRoutes(names)
	s.auth.Commit(g.auth)
	g.start(s.log)
	s.metrics.SetGeneration(g.id)
	if s.meter != nil {
		s.meter.SetVersions(usage.ConfigVersions(g.cfg))
	}
}
