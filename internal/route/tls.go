package route

import (
	"sort"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/proxy"
)

// UpstreamTLS reads the files of every upstream's tls block, as of now,
// and returns the loaded settings by upstream name, with each problem at
// its key path. Part of the plan: it reads files and dials nothing.
func UpstreamTLS(cfg *config.Config, now time.Time) (map[string]*proxy.ClientTLS, config.Problems) {
	var problems config.Problems
	out := map[string]*proxy.ClientTLS{}
	names := make([]string, 0, len(cfg.Upstreams))
	for name, uc := range cfg.Upstreams {
		if uc != nil && uc.TLS != nil && uc.Lambda == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		ct, ps := proxy.LoadClientTLS(cfg.Upstreams[name].TLS, "upstreams."+name+".tls", now)
		problems = append(problems, ps...)
		if ct != nil {
			out[name] = ct
		}
	}
	return out, problems
}
