package server

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
)

// purgeChanged drops, in the background, the response cache entries of
// the routes with a cache that cur removes or changes from old. Entries
// are keyed by the route's fingerprint, so the new generation never serves
// them anyway: the purge frees them (and, with Redis, every node's) rather
// than leaving them to age out.
func (s *Server) purgeChanged(old, cur *config.Config) {
	now := make(map[string]*config.Route, len(cur.Routes))
	for _, rc := range cur.Routes {
		now[rc.Name] = rc
	}
	var names []string
	for _, rc := range old.Routes {
		if rc.Cache == nil {
			continue
		}
		if n := now[rc.Name]; n == nil || !sameFingerprint(rc, n) {
			names = append(names, rc.Name)
		}
	}
	if len(names) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		for _, name := range names {
			if err := s.cache.Purge(ctx, name, ""); err != nil {
				s.log.Warn("purging the response cache of a changed route", "route", name, "error", err)
			}
		}
	}()
}

func sameFingerprint(a, b *config.Route) bool {
	fa, err := cache.Fingerprint(a)
	if err != nil {
		return false
	}
	fb, err := cache.Fingerprint(b)
	return err == nil && fa == fb
}
