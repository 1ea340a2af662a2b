package server

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/config/watch"
)

// ReloadResult describes the last reload attempt.
type ReloadResult struct {
	At         time.Time       `json:"at"`
	OK         bool            `json:"ok"`
	Generation uint64          `json:"generation"`
	Error      string          `json:"error,omitempty"`
	Problems   config.Problems `json:"problems,omitempty"`
	// Restart lists changed sections that only a restart applies.
	Restart []string `json:"restart_required,omitempty"`
}

// Reload re-reads the config file, plans the new generation off to the
// side, activates it and swaps it in: Load → plan → activate → swap. On a
// problem at any step the running generation stays in force, nothing it
// depends on has changed (storage is written last, by activate), and the
// problems are returned. Reloads are serialised.
func (s *Server) Reload() ReloadResult {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	res := ReloadResult{At: time.Now()}
	restore := tightGC()
	cfg, err := config.Load(s.configPath)
	var g *generation
	if err == nil {
		g, err = s.planner().plan(cfg)
	}
	if err == nil {
		err = s.activate(g)
	}
	restore()
	if err == nil {
		res.Restart = s.staticChanges(cfg)
		s.swap(g)
		// server.tls itself needs a restart, but its files are read
		// again at a reload, as at a change on disk.
		if s.tls != nil {
			s.tls.certs.recheck()
		}
		res.OK = true
		res.Generation = g.id
	}
	if err != nil {
		res.Error = err.Error()
		var ps config.Problems
		if errors.As(err, &ps) {
			res.Problems = ps
		}
		res.Generation = s.gen.Load().id
		s.log.Error("config reload failed; the running configuration stays in force", "file", s.configPath, "error", err)
		s.metrics.Reload(false)
	} else {
		s.metrics.Reload(true)
		s.log.Info("config reloaded", "file", s.configPath, "generation", res.Generation)
		if len(res.Restart) > 0 {
			s.log.Warn("changed settings need a restart to apply", "sections", res.Restart)
		}
	}
	s.lastReload = reloadStatus{At: res.At, OK: res.OK, Error: res.Error, Problem: res.Problems}
	return res
}

// staticChanges names the restart-only sections that cfg changes.
func (s *Server) staticChanges(cfg *config.Config) []string {
	var out []string
	// The body limit is applied per route at request time, so it reloads.
	srv := cfg.Server
	srv.Limits.MaxBodyBytes = s.static.server.Limits.MaxBodyBytes
	if !reflect.DeepEqual(srv, s.static.server) {
		out = append(out, "server")
	}
	if !reflect.DeepEqual(cfg.Admin, s.static.admin) {
		out = append(out, "admin")
	}
	if !reflect.DeepEqual(cfg.Portal, s.static.portal) {
		out = append(out, "portal")
	}
	if !reflect.DeepEqual(cfg.Storage, s.static.storage) {
		out = append(out, "storage")
	}
	if !reflect.DeepEqual(cfg.Counters, s.static.counters) {
		out = append(out, "counters")
	}
	if !reflect.DeepEqual(cfg.Cache, s.static.cache) {
		out = append(out, "cache")
	}
	// usage.retention is read by the meter at start too.
	if !reflect.DeepEqual(cfg.Usage, s.static.usage) {
		out = append(out, "usage")
	}
	// Route series are created with or without their histograms.
	if cfg.RouteHistograms() != s.static.routeHistograms {
		out = append(out, "telemetry.metrics")
	}
	if !reflect.DeepEqual(cfg.Telemetry.Tracing, s.static.tracing) {
		out = append(out, "telemetry.tracing")
	}
	return out
}

// Watch reloads when a file of the configuration changes on disk, until
// ctx ends: written in place, replaced by a rename, swapped through a
// symlink (Kubernetes ConfigMap), or added to or removed from the config
// directory or an include glob's directory; see package watch.
func (s *Server) Watch(ctx context.Context) error {
	if s.configPath == "" {
		return nil
	}
	return watch.Files(ctx, func() ([]string, []string) { return config.Sources(s.configPath) }, s.log, func() { s.Reload() })
}
