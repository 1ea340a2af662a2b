package route

import (
	"fmt"
	"sort"

	"github.com/gantry-dev/gantry/internal/aggregate"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/lambda"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/wire"
)

// Pools builds the pool of every upstream of cfg that has targets, with
// their runtime state in st, and checks every lambda upstream, which has no
// pool (its routes get a lambda terminal). Problems are reported at the
// upstream's key path. It does no I/O and starts nothing.
func Pools(cfg *config.Config, st *upstream.State) (map[string]*upstream.Pool, config.Problems) {
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
			if err := lambda.Check(uc.Lambda, nil); err != nil {
				problems = append(problems, config.Problem{Path: path + ".lambda", Message: err.Error()})
			}
			continue
		}
		p, err := upstream.NewPool(name, uc, st)
		if err != nil {
			problems = append(problems, config.Problem{Path: path, Message: err.Error()})
			continue
		}
		pools[name] = p
	}
	return pools, problems
}

// terminal builds what ends a route's chain: the aggregate of several
// calls, a lambda function, or the proxy to the route's upstream pool.
func terminal(env *Env, rc *config.Route, index int, rt *Route) (pipeline.Handler, error) {
	if rc.Aggregate != nil {
		return aggregate.New(rc, aggregate.Deps{
			Pools:          env.Pools,
			Upstreams:      env.Config.Upstreams,
			Transports:     env.Transports,
			TLS:            env.TLS,
			TrustedProxies: env.Trusted,
			Logger:         env.Logger,
			At:             fmt.Sprintf("routes[%d]", index),
		})
	}
	if rc.Split != nil {
		return splitTerminal(env, rc, rt)
	}
	up := env.Config.Upstreams[rc.Upstream]
	if up != nil && up.Lambda != nil {
		if rc.WebSocket != nil {
			return nil, fmt.Errorf("upstream %q is a lambda function, which cannot take WebSocket connections", rc.Upstream)
		}
		if lambda.Check(up.Lambda, nil) != nil {
			// Reported on the upstream already.
			return nil, fmt.Errorf("upstream %q is not usable", rc.Upstream)
		}
		h, err := lambda.New(rc.Upstream, up, rc, lambda.Options{
			TrustedProxies: env.Trusted,
			Transport:      env.Transports.Get(up.Timeouts.Connect.D(), up.Timeouts.Response.D()),
			Logger:         env.Logger,
			Metrics:        env.Metrics,
		})
		if err != nil {
			return nil, fmt.Errorf("upstreams.%s.lambda: %w", rc.Upstream, err)
		}
		return h, nil
	}
	return proxyTerminal(env, rc, rc.Upstream)
}

// proxyTerminal builds the proxy to the pool of the named upstream for
// route rc.
func proxyTerminal(env *Env, rc *config.Route, name string) (pipeline.Handler, error) {
	up := env.Config.Upstreams[name]
	pool := env.Pools[name]
	if pool == nil || (up != nil && up.TLS != nil && env.TLS[name] == nil) {
		// Reported on the upstream already.
		return nil, fmt.Errorf("upstream %q is not usable", name)
	}
	return proxy.New(pool, up, rc, proxy.Options{
		TrustedProxies: env.Trusted,
		Transports:     env.Transports,
		EscapePath:     wire.EscapePath,
		Logger:         env.Logger,
		Relays:         env.Relays,
		Metrics:        env.Metrics,
		WebSockets:     env.WebSockets,
		TLS:            env.TLS[name],
	})
}
