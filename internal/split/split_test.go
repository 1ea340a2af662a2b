package split

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// sideHandler answers with the side's name and records the Cookie header
// it got.
type sideHandler struct {
	name   string
	cookie atomic.Value
}

func (h *sideHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	h.cookie.Store(r.Header.Get("Cookie"))
	w.Header().Set("X-Side", h.name)
	return nil
}

func pool(t testing.TB, name string) *upstream.Pool {
	t.Helper()
	p, err := upstream.NewPool(name, &config.Upstream{Targets: []*config.Target{{URL: "http://127.0.0.1:9101", Weight: 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t testing.TB, rc *config.Route, served map[string]int) (pipeline.Handler, map[string]*sideHandler, map[string]*upstream.Pool) {
	t.Helper()
	hs := map[string]*sideHandler{}
	pools := map[string]*upstream.Pool{}
	sides := map[string]Side{}
	for _, s := range rc.Split {
		if hs[s.Upstream] == nil {
			hs[s.Upstream] = &sideHandler{name: s.Upstream}
			pools[s.Upstream] = pool(t, s.Upstream)
			sides[s.Upstream] = Side{Handler: hs[s.Upstream], Pool: pools[s.Upstream]}
		}
	}
	h, err := New(rc, sides, Options{OnServe: func(up string) {
		if served != nil {
			served[up]++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return h, hs, pools
}

func route() *config.Route {
	return &config.Route{Name: "orders", Split: []*config.SplitSide{
		{Upstream: "v2", Weight: 10},
		{Upstream: "v1", Weight: 90},
		{Upstream: "v2", Match: &config.SplitMatch{Headers: map[string]string{"X-Canary": "1"}}},
		{Upstream: "v3", Match: &config.SplitMatch{Headers: map[string]string{"X-Canary": "3"}, Cookies: map[string]string{"beta": "yes"}}},
	}}
}

func serve(t *testing.T, h pipeline.Handler, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestMatches(t *testing.T) {
	t.Parallel()
	h, _, _ := build(t, route(), nil)
	tests := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{name: "canary header", headers: map[string]string{"X-Canary": "1"}, want: "v2"},
		{name: "canary header any case", headers: map[string]string{"x-canary": "1"}, want: "v2"},
		{name: "header and cookie", headers: map[string]string{"X-Canary": "3", "Cookie": "a=b; beta=yes"}, want: "v3"},
		{name: "header without cookie", headers: map[string]string{"X-Canary": "3"}, want: ""},
		{name: "cookie with other value", headers: map[string]string{"X-Canary": "3", "Cookie": "beta=no"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 50 {
				r := httptest.NewRequest(http.MethodGet, "/orders", nil)
				for k, v := range tt.headers {
					r.Header.Set(k, v)
				}
				got := serve(t, h, r).Header().Get("X-Side")
				if tt.want != "" && got != tt.want {
					t.Fatalf("side = %q, want %q", got, tt.want)
				}
				if tt.want == "" && got == "v3" {
					t.Fatalf("side = v3 without its whole match")
				}
			}
		})
	}
}

func TestWeights(t *testing.T) {
	t.Parallel()
	served := map[string]int{}
	h, _, _ := build(t, route(), served)
	const n = 100_000
	for range n {
		serve(t, h, httptest.NewRequest(http.MethodGet, "/orders", nil))
	}
	// Binomial(100,000, 0.1): a standard deviation of 0.095%; 1% is over
	// ten of them.
	if share := float64(served["v2"]) / n; math.Abs(share-0.10) > 0.01 || served["v1"]+served["v2"] != n {
		t.Fatalf("served = %v, want 90/10 within 1%%", served)
	}
}

func TestUnhealthySideSkipped(t *testing.T) {
	t.Parallel()
	served := map[string]int{}
	h, _, pools := build(t, route(), served)
	for _, tg := range pools["v1"].Targets() {
		tg.SetHealthy(false)
	}
	for range 200 {
		serve(t, h, httptest.NewRequest(http.MethodGet, "/orders", nil))
	}
	if served["v2"] != 200 {
		t.Fatalf("with v1 down, served = %v, want all on v2", served)
	}
	for _, tg := range pools["v2"].Targets() {
		tg.SetHealthy(false)
	}
	clear(served)
	for range 200 {
		serve(t, h, httptest.NewRequest(http.MethodGet, "/orders", nil))
	}
	if served["v1"] == 0 || served["v2"] == 0 {
		t.Fatalf("with every side down, served = %v, want the weights over all", served)
	}
}

func TestSticky(t *testing.T) {
	t.Parallel()
	rc := route()
	rc.Sticky = &config.Sticky{Cookie: "gantry-split", TTL: config.Duration(time.Hour)}
	h, hs, pools := build(t, rc, nil)

	w := serve(t, h, httptest.NewRequest(http.MethodGet, "/orders", nil))
	side := w.Header().Get("X-Side")
	sc := w.Header().Get("Set-Cookie")
	want := "gantry-split=" + Token("orders", side) + "; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"
	if sc != want {
		t.Fatalf("Set-Cookie = %q, want %q", sc, want)
	}
	for range 200 {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.Header.Set("Cookie", "theme=dark; gantry-split="+Token("orders", side)+"; lang=en")
		w := serve(t, h, r)
		if got := w.Header().Get("X-Side"); got != side {
			t.Fatalf("sticky client moved from %s to %s", side, got)
		}
		if w.Header().Get("Set-Cookie") != "" {
			t.Fatalf("a valid cookie was set again")
		}
		if c := hs[side].cookie.Load(); c != "theme=dark; lang=en" {
			t.Fatalf("upstream got Cookie %q, want the client's others only", c)
		}
	}

	tests := []struct{ name, cookie string }{
		{name: "upstream name", cookie: "v1"},
		{name: "another route's token", cookie: Token("users", "v1")},
		{name: "a matched-only side", cookie: Token("orders", "v3")},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.Header.Set("Cookie", "gantry-split="+tt.cookie)
		w := serve(t, h, r)
		if w.Header().Get("X-Side") == "v3" || !strings.HasPrefix(w.Header().Get("Set-Cookie"), "gantry-split=") {
			t.Errorf("%s: side %q, Set-Cookie %q: want a fresh draw and cookie", tt.name, w.Header().Get("X-Side"), w.Header().Get("Set-Cookie"))
		}
	}

	// A side without a healthy target loses its sticky clients.
	for _, tg := range pools[side].Targets() {
		tg.SetHealthy(false)
	}
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Cookie", "gantry-split="+Token("orders", side))
	w = serve(t, h, r)
	if got := w.Header().Get("X-Side"); got == side || !strings.Contains(w.Header().Get("Set-Cookie"), Token("orders", got)) {
		t.Fatalf("side %s is down: served by %s with Set-Cookie %q", side, got, w.Header().Get("Set-Cookie"))
	}

	// The TLS flag makes the cookie Secure.
	r = httptest.NewRequest(http.MethodGet, "/orders", nil)
	r = r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{TLS: true}))
	if sc := serve(t, h, r).Header().Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Fatalf("Set-Cookie on TLS = %q, want Secure", sc)
	}
}

func TestNewRefusesIncompleteSides(t *testing.T) {
	t.Parallel()
	if _, err := New(route(), map[string]Side{"v1": {Handler: &sideHandler{}}}, Options{}); err == nil {
		t.Fatal("New without a handler for every side succeeded")
	}
	if _, err := New(&config.Route{Name: "x"}, nil, Options{}); err == nil {
		t.Fatal("New without a split succeeded")
	}
}
