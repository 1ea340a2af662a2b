package route

import (
	"net/http"
	"slices"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/plugins/ratelimit"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// stripKeyStep removes the API key header and query parameter on a route
// whose auth does not read keys. The key method removes the key where it
// reads it.
func stripKeyStep(env *Env, rc *config.Route, _ *Route) (pipeline.Middleware, error) {
	k := env.Config.Auth.APIKey
	if k == nil || slices.Contains(rc.Auth, "api_key") {
		return nil, nil
	}
	header, query := k.Header, k.Query
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			keyauth.StripKey(r, header, query)
			return next.ServeHTTP(w, r)
		})
	}, nil
}

// authStep authenticates with the route's methods. On a route without
// auth, where no credential can set them, it removes the JWT claim headers
// instead.
func authStep(env *Env, rc *config.Route, rt *Route) (pipeline.Middleware, error) {
	claims := claimHeaders(env.Config)
	if len(rc.Auth) == 0 {
		if len(claims) == 0 {
			return nil, nil
		}
		return stripHeaders(claims), nil
	}
	if env.Auth == nil {
		// Reported at the provider's own key path.
		return nil, ErrAuthUnusable
	}
	methods, err := env.Auth.methods(rc)
	if err != nil {
		return nil, err
	}
	gates, err := env.Auth.gates(env, rc)
	if err != nil {
		return nil, err
	}
	return auth.New(auth.Config{Methods: methods, Gates: gates, AllowGroups: rc.AllowGroups, Strip: claims,
		OnFailure: func(method, reason string) { rt.Metrics().AuthFailure(method, reason) }}), nil
}

// stripHeaders removes the named request headers, in any case.
func stripHeaders(names []string) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			auth.StripFold(r.Header, names)
			return next.ServeHTTP(w, r)
		})
	}
}

// bodyLimitStep limits the request body to the route's max_body_bytes,
// or server.limits.max_body_bytes.
func bodyLimitStep(env *Env, rc *config.Route, _ *Route) (pipeline.Middleware, error) {
	limit := int64(env.Config.Server.Limits.MaxBodyBytes)
	if rc.MaxBodyBytes > 0 {
		limit = int64(rc.MaxBodyBytes)
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if err := limitBody(w, r, limit); err != nil {
				return err
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}

// limitBody answers 413 for a declared length over the limit before anything
// reaches the upstream, and caps bodies of unknown length while they stream.
func limitBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	if limit <= 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > limit {
		e := pipeline.Errorf(http.StatusRequestEntityTooLarge, pipeline.CodeBodyTooLarge, "request body is larger than %d bytes", limit)
		// The unread body would otherwise be drained; closing is cheaper.
		e.Close = true
		return e
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return nil
}

// rateLimitStep applies the route's rate limit and, on routes with
// authentication, the consumer's plan limits and quota.
func rateLimitStep(env *Env, rc *config.Route, rt *Route) (pipeline.Middleware, error) {
	if rc.RateLimit == nil && (len(rc.Auth) == 0 || !planLimits(env.Config)) {
		return nil, nil
	}
	return ratelimit.New(ratelimit.Config{Counter: env.Counter, Route: rc.Name, Limit: rc.RateLimit, Plans: env.Config.Plans,
		OnLimited:  func() { rt.Metrics().RateLimited() },
		OnDecision: func(d ratelimit.Decision) { rt.Metrics().RateLimitDecision(decisionIndex[d]) }})
}

// decisionIndex maps the plugin's decisions to their metric labels.
var decisionIndex = [...]int{
	ratelimit.Allowed:       telemetry.DecisionAllowed,
	ratelimit.Limited:       telemetry.DecisionLimited,
	ratelimit.QuotaExceeded: telemetry.DecisionQuotaExceeded,
}

// admitStep marks a request that passed every gate of its route
// (authentication, limits, quota): from here on it counts against quotas
// and may be billed.
func admitStep(*Env, *config.Route, *Route) (pipeline.Middleware, error) {
	return admit, nil
}

func admit(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if x := pipeline.ExchangeOf(r); x != nil {
			x.Admitted = true
		}
		return next.ServeHTTP(w, r)
	})
}

// claimHeaders returns the canonical names of every header a JWT
// provider's forward_claims or an external authorization service's
// response_headers sets. They are the gateway's own on every route, not
// only on routes of that provider: an upstream that reads X-User-Sub
// behind one route is often the upstream of another, public or keyed,
// route too, and must never get a client's copy from it (#13).
func claimHeaders(cfg *config.Config) []string {
	var hs []string
	add := func(h string) {
		h = http.CanonicalHeaderKey(h)
		if !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	for _, j := range cfg.Auth.JWT {
		for _, h := range j.ForwardClaims {
			add(h)
		}
	}
	for _, e := range cfg.Auth.External {
		for _, h := range e.ResponseHeaders {
			add(h)
		}
	}
	slices.Sort(hs)
	return hs
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
