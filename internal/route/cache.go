package route

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

// cacheStep answers the route's GET and HEAD requests from the response
// cache, after every gate (so a hit is admitted, rate-limited and metered
// like any answer) and right before the terminal.
func cacheStep(env *Env, rc *config.Route, rt *Route) (pipeline.Middleware, error) {
	if rc.Cache == nil {
		return nil, nil
	}
	if env.Cache == nil {
		return nil, fmt.Errorf("the response cache is not available")
	}
	fp, err := cache.Fingerprint(rc)
	if err != nil {
		return nil, err
	}
	cr := cache.Route{
		Name:        rc.Name,
		Fingerprint: fp,
		Policy: cache.Policy{
			TTL:                  rc.Cache.TTL.D(),
			StaleWhileRevalidate: rc.Cache.StaleWhileRevalidate.D(),
			MaxBody:              int64(rc.Cache.MaxBody),
		},
	}
	for _, v := range rc.Cache.VaryBy {
		if v == config.VaryConsumer {
			cr.ByConsumer = true
			continue
		}
		cr.VaryBy = append(cr.VaryBy, http.CanonicalHeaderKey(v))
	}
	if m := env.Metrics; m != nil {
		// Series are made on first use, so a plan that never serves adds
		// none.
		var counters [cache.NumResults]atomic.Pointer[prometheus.Counter]
		name := rc.Name
		cr.OnResult = func(r cache.Result) {
			c := counters[r].Load()
			if c == nil {
				nc := m.CacheCounter(name, r.String())
				counters[r].Store(&nc)
				c = &nc
			}
			(*c).Inc()
		}
	}
	return env.Cache.Middleware(cr), nil
}
