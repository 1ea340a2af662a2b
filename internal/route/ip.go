package route

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// ipRules is a route's compiled ip rules.
type ipRules struct {
	allow, deny []netip.Prefix
}

// admits reports whether the client address s may use the route: not in
// deny, and in allow when allow is set. An address that does not parse is
// refused, so a rule never fails open.
func (ir *ipRules) admits(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range ir.deny {
		if p.Contains(a) {
			return false
		}
	}
	if len(ir.allow) == 0 {
		return true
	}
	for _, p := range ir.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ipStep refuses requests whose client address (Exchange.ClientIP: the
// peer, or what server.trusted_proxies forward) the route's ip rules do not
// admit, with 403 forbidden.
func ipStep(_ *Env, rc *config.Route, _ *Route) (pipeline.Middleware, error) {
	if rc.IP == nil {
		return nil, nil
	}
	// Same grammar as server.trusted_proxies; config.Validate reported
	// each bad entry at its path already.
	allow, err := forward.ParseTrusted(rc.IP.Allow)
	if err != nil {
		return nil, fmt.Errorf("ip.allow: %w", err)
	}
	deny, err := forward.ParseTrusted(rc.IP.Deny)
	if err != nil {
		return nil, fmt.Errorf("ip.deny: %w", err)
	}
	ir := &ipRules{allow: allow, deny: deny}
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			x := pipeline.ExchangeOf(r)
			if x == nil || !ir.admits(x.ClientIP) {
				return pipeline.Errorf(http.StatusForbidden, pipeline.CodeForbidden, "client address is not allowed on this route")
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}
