package route

import (
	"fmt"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/transform"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/split"
	"github.com/gantry-dev/gantry/internal/wire"
)

// splitTerminal builds the terminal of a route with a split: one proxy
// per upstream of the split, each over its own pool, and the split that
// chooses among them.
func splitTerminal(env *Env, rc *config.Route, rt *Route) (pipeline.Handler, error) {
	sides := make(map[string]split.Side, len(rc.Split))
	for _, s := range rc.Split {
		if s == nil {
			continue
		}
		if _, ok := sides[s.Upstream]; ok {
			continue
		}
		h, err := proxyTerminal(env, rc, s.Upstream)
		if err != nil {
			return nil, err
		}
		sides[s.Upstream] = split.Side{Handler: h, Pool: env.Pools[s.Upstream]}
	}
	return split.New(rc, sides, split.Options{OnServe: func(up string) { rt.Metrics().SplitServed(up) }})
}

// transformStep builds the route's JSON body transforms.
func transformStep(_ *Env, rc *config.Route, rt *Route) (pipeline.Middleware, error) {
	if rc.Transform == nil {
		return nil, nil
	}
	return transform.New(transform.Config{Transform: rc.Transform, BodyError: forward.BodyError,
		OnResult: func(dir, result string) { rt.Metrics().Transformed(dir, result) }})
}

// mirrorStep builds the route's mirror: copies of a share of its admitted
// requests, sent from a queue of their own.
func mirrorStep(env *Env, rc *config.Route, rt *Route) (pipeline.Middleware, error) {
	mc := rc.Mirror
	if mc == nil {
		return nil, nil
	}
	up := env.Config.Upstreams[mc.Upstream]
	pool := env.Pools[mc.Upstream]
	if up == nil || pool == nil || (up.TLS != nil && env.TLS[mc.Upstream] == nil) {
		// Reported on the upstream already.
		return nil, fmt.Errorf("mirror upstream %q is not usable", mc.Upstream)
	}
	m, err := proxy.NewMirror(pool, up, rc, proxy.Options{
		TrustedProxies: env.Trusted,
		Transports:     env.Transports,
		EscapePath:     wire.EscapePath,
		TLS:            env.TLS[mc.Upstream],
	}, func(result string) { rt.Metrics().Mirrored(result) })
	if err != nil {
		return nil, err
	}
	return m.Middleware, nil
}
