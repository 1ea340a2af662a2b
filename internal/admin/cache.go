package admin

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/config"
)

// purgeCache drops a route's response cache entries: those of one path
// (every query and variant of it) with ?path=, or all of them.
func (a *api) purgeCache(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, path := q.Get("route"), q.Get("path")
	if name == "" {
		apijson.Error(w, http.StatusBadRequest, "bad_request", "route is required: DELETE /admin/cache?route=NAME[&path=/PATH]")
		return
	}
	if path != "" && path[0] != '/' {
		apijson.Error(w, http.StatusBadRequest, "bad_request", "path must start with /")
		return
	}
	cfg := a.gw.Config()
	i := slices.IndexFunc(cfg.Routes, func(rc *config.Route) bool { return rc.Name == name })
	if i < 0 {
		apijson.Error(w, http.StatusNotFound, "not_found", "no route named "+name)
		return
	}
	if cfg.Routes[i].Cache == nil {
		apijson.Error(w, http.StatusBadRequest, "bad_request", "route "+name+" has no cache")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := a.gw.Cache().Purge(ctx, name, path); err != nil {
		a.log.Error("purging the response cache", "route", name, "error", err)
		apijson.Error(w, http.StatusServiceUnavailable, "cache_unavailable", "the cache store could not be purged")
		return
	}
	apijson.Write(w, http.StatusOK, map[string]string{"route": name, "path": path, "result": "purged"})
}
