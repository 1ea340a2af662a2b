package server

import (
	"slices"
	"sort"
	"time"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
)

// RouteInfo describes a route of the running generation for the admin API.
type RouteInfo struct {
	Name        string            `json:"name"`
	Hosts       []string          `json:"hosts,omitempty"`
	Path        string            `json:"path,omitempty"`
	PathPrefix  string            `json:"path_prefix,omitempty"`
	Methods     []string          `json:"methods,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Version     string            `json:"version,omitempty"`
	Upstream    string            `json:"upstream,omitempty"`
	Rewrite     string            `json:"rewrite,omitempty"`
	StripPrefix string            `json:"strip_prefix,omitempty"`
	CORS        bool              `json:"cors,omitempty"`
	// Split lists the upstreams of a route's split, in configuration
	// order, each once; Mirror names its mirror upstream.
	Split  []string `json:"split,omitempty"`
	Mirror string   `json:"mirror,omitempty"`
}

// TargetInfo is one upstream target's state.
type TargetInfo struct {
	// URL names the target: its configured URL, or for an address found by
	// DNS, the URL with that address.
	URL    string `json:"url"`
	Weight int    `json:"weight"`
	// State is healthy, unhealthy (failed active checks) or ejected
	// (passive ejection, until EjectedUntil).
	State        string     `json:"state"`
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
	// InFlight counts the attempts the target is serving.
	InFlight int64 `json:"in_flight"`
	// EWMAMs is the latency estimate p2c_ewma uses, in milliseconds (a
	// peak EWMA decaying with a 10s time constant); 0 before any request.
	EWMAMs float64 `json:"ewma_ms"`
}

// UpstreamInfo describes an upstream of the running generation.
type UpstreamInfo struct {
	Name     string       `json:"name"`
	Balancer string       `json:"balancer"`
	Retries  int          `json:"retries"`
	Targets  []TargetInfo `json:"targets"`
}

// StatusInfo is the gateway's state for the admin API.
type StatusInfo struct {
	Generation uint64    `json:"generation"`
	LoadedAt   time.Time `json:"loaded_at"`
	ConfigFile string    `json:"config_file,omitempty"`
	InFlight   int64     `json:"in_flight"`
	Routes     int       `json:"routes"`
	Upstreams  int       `json:"upstreams"`
	LastReload struct {
		At       time.Time       `json:"at"`
		OK       bool            `json:"ok"`
		Error    string          `json:"error,omitempty"`
		Problems config.Problems `json:"problems,omitempty"`
	} `json:"last_reload"`
}

// Routes lists the running routes in configuration order.
func (s *Server) Routes() []RouteInfo {
	g := s.gen.Load()
	out := make([]RouteInfo, 0, len(g.cfg.Routes))
	for _, rc := range g.cfg.Routes {
		out = append(out, RouteInfo{
			Name: rc.Name, Hosts: rc.Match.Hosts, Path: rc.Match.Path, PathPrefix: rc.Match.PathPrefix,
			Methods: rc.Match.Methods, Headers: rc.Match.Headers, Version: rc.Match.Version,
			Upstream: rc.Upstream, Rewrite: rc.Rewrite, StripPrefix: rc.StripPrefix, CORS: rc.CORS != nil,
			Split: splitUpstreams(rc), Mirror: mirrorUpstream(rc),
		})
	}
	return out
}

// Upstreams lists the running upstreams, sorted by name.
func (s *Server) Upstreams() []UpstreamInfo {
	g := s.gen.Load()
	out := make([]UpstreamInfo, 0, len(g.pools))
	for _, name := range sortedNames(g.cfg.Upstreams) {
		uc := g.cfg.Upstreams[name]
		p := g.pools[name]
		if p == nil {
			continue
		}
		ui := UpstreamInfo{Name: name, Balancer: uc.Balancer, Retries: uc.Retries}
		for _, t := range p.Targets() {
			st := t.Status()
			ti := TargetInfo{URL: t.Name, Weight: t.Weight, State: st.State, InFlight: st.InFlight, EWMAMs: float64(st.EWMA.Microseconds()) / 1000}
			if !st.EjectedUntil.IsZero() {
				ti.EjectedUntil = &st.EjectedUntil
			}
			ui.Targets = append(ui.Targets, ti)
		}
		out = append(out, ui)
	}
	return out
}

// Status reports the generation, the last reload and the load.
func (s *Server) Status() StatusInfo {
	g := s.gen.Load()
	st := StatusInfo{Generation: g.id, LoadedAt: g.loaded, ConfigFile: s.configPath, InFlight: s.InFlight(), Routes: len(g.cfg.Routes), Upstreams: len(g.pools)}
	s.reloadMu.Lock()
	lr := s.lastReload
	s.reloadMu.Unlock()
	st.LastReload.At, st.LastReload.OK, st.LastReload.Error, st.LastReload.Problems = lr.At, lr.OK, lr.Error, lr.Problem
	return st
}

// Config returns the running configuration with secrets redacted.
func (s *Server) Config() *config.Config { return s.gen.Load().cfg.Redacted() }

// Ready reports whether a configuration is loaded and the server is not
// draining (Drain, Shutdown).
func (s *Server) Ready() bool { return s.gen.Load() != nil && !s.draining.Load() }

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Plans returns the serving configuration's plans, for the control path
// to read (invoices, the portal's limits); callers must not modify them.
func (s *Server) Plans() map[string]*config.Plan {
	if g := s.gen.Load(); g != nil {
		return g.cfg.Plans
	}
	return nil
}

// Cache returns the response cache the routes share.
func (s *Server) Cache() *cache.Cache { return s.cache }

// splitUpstreams returns the upstreams of rc's split, each once, in
// configuration order; nil without a split.
func splitUpstreams(rc *config.Route) []string {
	var out []string
	for _, s := range rc.Split {
		if s != nil && !slices.Contains(out, s.Upstream) {
			out = append(out, s.Upstream)
		}
	}
	return out
}

func mirrorUpstream(rc *config.Route) string {
	if rc.Mirror == nil {
		return ""
	}
	return rc.Mirror.Upstream
}
