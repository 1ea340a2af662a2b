package split

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// Side is one upstream of a split, as route.Build built it.
type Side struct {
	// Handler is the upstream's proxy terminal for the route.
	Handler pipeline.Handler
	// Pool is the upstream's pool, read for health; nil counts as
	// healthy.
	Pool *upstream.Pool
}

// Options are what a split reports to.
type Options struct {
	// OnServe is called with the upstream chosen for each request, before
	// it is served; nil for none.
	OnServe func(upstream string)
}

type side struct {
	name  string
	h     pipeline.Handler
	pool  *upstream.Pool
	token string
}

type match struct {
	headers [][2]string // canonical name, value
	cookies [][2]string
	side    *side
}

type weight struct {
	side *side
	w    int
}

// handler is a split terminal; immutable once built.
type handler struct {
	matches []match
	weights []weight
	byToken map[string]*side
	cookie  string
	maxAge  int
	onServe func(string)
}

var _ pipeline.Handler = (*handler)(nil)

// New returns the terminal of route rc, which has a split: sides holds
// the side of every upstream the split names. It does no I/O.
func New(rc *config.Route, sides map[string]Side, opts Options) (pipeline.Handler, error) {
	if len(rc.Split) == 0 {
		return nil, errors.New("split: the route has no split")
	}
	h := &handler{onServe: opts.OnServe, byToken: map[string]*side{}}
	if opts.OnServe == nil {
		h.onServe = func(string) {}
	}
	built := map[string]*side{}
	get := func(name string) (*side, error) {
		if s := built[name]; s != nil {
			return s, nil
		}
		sd, ok := sides[name]
		if !ok || sd.Handler == nil {
			return nil, fmt.Errorf("split: upstream %q has no handler", name)
		}
		s := &side{name: name, h: sd.Handler, pool: sd.Pool, token: Token(rc.Name, name)}
		built[name] = s
		return s, nil
	}
	for _, sc := range rc.Split {
		if sc == nil {
			continue
		}
		s, err := get(sc.Upstream)
		if err != nil {
			return nil, err
		}
		if sc.Match != nil {
			m := match{side: s}
			for k, v := range sc.Match.Headers {
				m.headers = append(m.headers, [2]string{http.CanonicalHeaderKey(k), v})
			}
			for k, v := range sc.Match.Cookies {
				m.cookies = append(m.cookies, [2]string{k, v})
			}
			h.matches = append(h.matches, m)
			continue
		}
		if sc.Weight > 0 {
			h.weights = append(h.weights, weight{s, sc.Weight})
			h.byToken[s.token] = s
		}
	}
	if len(h.weights) == 0 {
		return nil, errors.New("split: no weighted side")
	}
	if st := rc.Sticky; st != nil {
		h.cookie = st.Cookie
		h.maxAge = max(int(st.TTL.D().Seconds()), 1)
	}
	return h, nil
}

// Token returns the sticky cookie's value for the upstream of a route's
// split: opaque, and the same on every node.
func Token(route, upstream string) string {
	sum := sha256.Sum256([]byte("gantry split\x00" + route + "\x00" + upstream))
	return hex.EncodeToString(sum[:12])
}

// ServeHTTP chooses the request's side (see the package doc) and lets its
// handler serve it.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	s := h.matched(r)
	if s == nil && h.cookie != "" {
		if c, err := r.Cookie(h.cookie); err == nil {
			if cs := h.byToken[c.Value]; cs != nil && healthy(cs.pool) {
				s = cs
			}
		}
		if s == nil {
			s = h.draw()
			secure := false
			if x := pipeline.ExchangeOf(r); x != nil {
				secure = x.TLS
			}
			c := &http.Cookie{Name: h.cookie, Value: s.token, Path: "/", MaxAge: h.maxAge,
				HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
			w.Header().Add("Set-Cookie", c.String())
		}
	}
	if s == nil {
		s = h.draw()
	}
	if h.cookie != "" {
		forward.RemoveCookie(r.Header, h.cookie)
	}
	h.onServe(s.name)
	return s.h.ServeHTTP(w, r)
}

// matched returns the side of the first match that holds, or nil.
func (h *handler) matched(r *http.Request) *side {
	for i := range h.matches {
		m := &h.matches[i]
		if m.holds(r) {
			return m.side
		}
	}
	return nil
}

func (m *match) holds(r *http.Request) bool {
	for _, kv := range m.headers {
		vs := r.Header[kv[0]]
		if len(vs) != 1 || vs[0] != kv[1] {
			return false
		}
	}
	for _, kv := range m.cookies {
		c, err := r.Cookie(kv[0])
		if err != nil || c.Value != kv[1] {
			return false
		}
	}
	return true
}

// draw picks a weighted side by weight among those with a target that
// takes traffic, or among all when none has.
func (h *handler) draw() *side {
	total := 0
	for _, wt := range h.weights {
		if healthy(wt.side.pool) {
			total += wt.w
		}
	}
	all := total == 0
	if all {
		for _, wt := range h.weights {
			total += wt.w
		}
	}
	n := rand.N(total)
	for _, wt := range h.weights {
		if !all && !healthy(wt.side.pool) {
			continue
		}
		if n < wt.w {
			return wt.side
		}
		n -= wt.w
	}
	return h.weights[len(h.weights)-1].side
}

// healthy reports whether the pool has a target that takes traffic.
func healthy(p *upstream.Pool) bool {
	if p == nil {
		return true
	}
	for _, t := range p.Targets() {
		if t.Available() {
			return true
		}
	}
	return false
}
