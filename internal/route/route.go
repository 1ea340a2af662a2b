package route

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/cors"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// Env is what every step and terminal of a generation's routes is built
// from: one value per plan, shared by all its routes and read-only while
// they are built.
type Env struct {
	// Config is the generation's configuration.
	Config *config.Config
	// Logger is the process log.
	Logger *slog.Logger
	// Metrics receives request and upstream metrics.
	Metrics *telemetry.Metrics
	// Counter decides rate limits and quotas.
	Counter counter.Counter
	// Pools are the generation's upstream pools, by upstream name (see
	// Pools); lambda upstreams have none.
	Pools map[string]*upstream.Pool
	// Relays are the ReverseProxies the generation's proxy terminals
	// share, one per upstream and transport rather than one per route.
	Relays *proxy.Relays
	// Transports and WebSockets are shared by every generation.
	Transports *proxy.Transports
	WebSockets *proxy.WebSockets
	// Trusted are the peers whose forwarding headers are believed.
	Trusted []netip.Prefix
	// TLS are the loaded tls blocks of the upstreams that have one (see
	// UpstreamTLS), by upstream name.
	TLS map[string]*proxy.ClientTLS
	// Auth holds the authentication methods the generation's plan built;
	// nil when they could not be built (reported at their own key paths).
	Auth *AuthSet
	// Cache is the response cache the routes with a cache section use;
	// shared by every generation.
	Cache *cache.Cache
	// Tracing wraps the steps that make spans (auth, rate_limit) in one;
	// without it they are not wrapped at all.
	Tracing bool
}

// Route is one route's handler as the router holds it: the pre-built
// chain, plus the response policy the server applies around it to relayed
// answers and gateway errors alike. It is immutable once bound.
type Route struct {
	// Name is the route's name.
	Name string
	// CORS is the route's CORS policy, nil for none.
	CORS *cors.Policy
	// Units is the route's units_header, "" for none.
	Units string

	chain pipeline.Handler
	// bound is the metrics Bind gave, written once before the route
	// serves.
	bound *telemetry.Metrics
	// metrics caches bound.Route(Name) from the route's first use
	// on; any request may write it, always with the same handle.
	metrics atomic.Pointer[telemetry.RouteMetrics]
	// grpc caches bound.GRPC(Name) from the route's first gRPC call on,
	// written like metrics.
	grpc atomic.Pointer[telemetry.GRPCMetrics]
}

var _ pipeline.Handler = (*Route)(nil)

// ServeHTTP runs the route's chain.
func (rt *Route) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	return rt.chain.ServeHTTP(w, r)
}

// Bind gives the route its metrics. It is called when the route's
// generation is swapped in, so a plan that never serves adds no series.
func (rt *Route) Bind(m *telemetry.Metrics) { rt.bound = m }

// Metrics returns the route's handle in the metrics Bind gave, nil before
// Bind. The handle is looked up on the route's first request, not at
// Bind: a table of 10,000 routes would otherwise hold 10,000 handles
// (and their map entries) for routes that may never serve.
func (rt *Route) Metrics() *telemetry.RouteMetrics {
	if rm := rt.metrics.Load(); rm != nil {
		return rm
	}
	if rt.bound == nil {
		return nil
	}
	rm := rt.bound.Route(rt.Name)
	rt.metrics.Store(rm)
	return rm
}

// GRPCMetrics returns the route's gRPC handle in the metrics Bind gave,
// nil before Bind; like Metrics, it is looked up on first use.
func (rt *Route) GRPCMetrics() *telemetry.GRPCMetrics {
	if gm := rt.grpc.Load(); gm != nil {
		return gm
	}
	if rt.bound == nil {
		return nil
	}
	gm := rt.bound.GRPC(rt.Name)
	rt.grpc.Store(gm)
	return gm
}

// A step builds one phase of a route's chain from the environment, or
// returns nil when the route has no such step. rt is the route being
// built, for steps that report to its metrics once it serves.
type step func(env *Env, rc *config.Route, rt *Route) (pipeline.Middleware, error)

// recipe is the order of a route's chain, outermost first; the terminal
// comes after the last step.
var recipe = []struct {
	name  string
	build step
	// traced steps get a span of their own when tracing is on.
	traced bool
}{
	// First: a refused address costs no credential check, no body and no
	// token.
	{"ip", ipStep, false},
	// A route without the api_key method removes the key unread, so a
	// key is never forwarded.
	{"strip_key", stripKeyStep, false},
	// Sets the consumer; every credential presented must verify.
	{"auth", authStep, true},
	// After authentication, so a refused body is the consumer's refused
	// request (in usage too); before the limits, so it costs no token.
	{"body_limit", bodyLimitStep, false},
	// The route's bucket, the plan's bucket and the plan's quota, one
	// all-or-nothing question.
	{"rate_limit", rateLimitStep, true},
	// After the request limits, so a refused request's body is not read;
	// reads the model, checks the token limits and meters the answer.
	{"llm", llmStep, false},
	// Passed every gate: counts against quotas and may be billed.
	{"admit", admitStep, false},
	// After every gate, so a hit is limited, metered and billed like
	// any answer; right before the terminal, which a hit never reaches.
	{"cache", cacheStep, false},
}

// Build builds the route rc, at position index of the configuration's
// routes, from env: its terminal, then its chain in recipe order, and its
// response policy. It does no I/O and starts nothing.
func Build(env *Env, rc *config.Route, index int) (*Route, error) {
	rt := &Route{Name: rc.Name, Units: rc.UnitsHeader}
	term, err := terminal(env, rc, index)
	if err != nil {
		return nil, err
	}
	mws := make([]pipeline.Middleware, 0, len(recipe))
	for _, s := range recipe {
		mw, err := s.build(env, rc, rt)
		if err != nil {
			return nil, err
		}
		if mw != nil && s.traced && env.Tracing {
			mw = traced(s.name, mw)
		}
		if mw != nil {
			mws = append(mws, mw)
		}
	}
	// CORS is not a step of the chain but route data: the server's
	// recorder applies it to every answer of the route, its own errors
	// included.
	if rc.CORS != nil {
		if rt.CORS, err = cors.New(rc.CORS, rc.Match.Methods); err != nil {
			return nil, err
		}
	}
	rt.chain = pipeline.Chain(term, mws...)
	return rt, nil
}

// ErrAuthUnusable marks a route whose authentication could not be built;
// the cause is reported where it belongs (auth.jwt[0].public_key_file),
// not again at every route.
var ErrAuthUnusable = errors.New("authentication is not usable")
