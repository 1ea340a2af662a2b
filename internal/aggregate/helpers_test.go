package aggregate

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// newUpstream starts an upstream server that is closed when the test ends.
func newUpstream(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	s := httptest.NewServer(h)
	tb.Cleanup(s.Close)
	return s
}

// failingUpstream answers every request 500 with a JSON body.
func failingUpstream(tb testing.TB) *httptest.Server {
	return newUpstream(tb, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{}`)
	})
}

// jsonUpstream answers every request with body as application/json after
// delay (cut short when the request is canceled).
func jsonUpstream(tb testing.TB, delay time.Duration, body string) *httptest.Server {
	return newUpstream(tb, func(w http.ResponseWriter, r *http.Request) {
		if !sleep(r.Context(), delay) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	})
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// setup describes an aggregate handler under test.
type setup struct {
	// path is the route's match.path; default /dashboard/{user_id}.
	path string
	// upstreams maps upstream names to target URLs.
	upstreams map[string][]string
	// configure adjusts an upstream's config before its pool is built.
	configure func(name string, u *config.Upstream)
	deps      Deps
}

// build returns the handler for a and the pools it uses.
func (s setup) build(tb testing.TB, a *config.Aggregate) (pipeline.Handler, map[string]*upstream.Pool) {
	tb.Helper()
	return s.buildRoute(tb, &config.Route{Aggregate: a})
}

// buildRoute is build for a whole route; its name and match path are
// filled in.
func (s setup) buildRoute(tb testing.TB, rc *config.Route) (pipeline.Handler, map[string]*upstream.Pool) {
	tb.Helper()
	if s.path == "" {
		s.path = "/dashboard/{user_id}"
	}
	deps := s.deps
	deps.Pools = map[string]*upstream.Pool{}
	deps.Upstreams = map[string]*config.Upstream{}
	for name, urls := range s.upstreams {
		u := &config.Upstream{Balancer: "round_robin"}
		for _, url := range urls {
			u.Targets = append(u.Targets, &config.Target{URL: url, Weight: 1})
		}
		if s.configure != nil {
			s.configure(name, u)
		}
		p, err := upstream.NewPool(name, u, nil)
		if err != nil {
			tb.Fatalf("NewPool(%s) error: %v", name, err)
		}
		deps.Pools[name], deps.Upstreams[name] = p, u
	}
	rc.Name, rc.Match.Path = "dashboard", s.path
	h, err := New(rc, deps)
	if err != nil {
		tb.Fatalf("New() error: %v", err)
	}
	return h, deps.Pools
}

// serve runs h for a GET of target with the given exchange (ID and params
// filled in when empty).
func serve(h pipeline.Handler, target string, x *pipeline.Exchange) (*httptest.ResponseRecorder, error) {
	return serveCtx(context.Background(), h, target, x)
}

func serveCtx(ctx context.Context, h pipeline.Handler, target string, x *pipeline.Exchange) (*httptest.ResponseRecorder, error) {
	if x == nil {
		x = &pipeline.Exchange{}
	}
	if x.ID == "" {
		x.ID = "req-7f3a"
	}
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	//lint:ignore SA1019 a recorder built by hand keeps Code 0 until a status is written, which tests tell from 200
	rec := &httptest.ResponseRecorder{HeaderMap: make(http.Header), Body: new(bytes.Buffer)}
	err := h.ServeHTTP(rec, r.WithContext(pipeline.WithExchange(r.Context(), x)))
	return rec, err
}

// params is the exchange of a request to /dashboard/{user_id}.
func params(userID string) *pipeline.Exchange {
	return &pipeline.Exchange{Params: []pipeline.Param{{Name: "user_id", Value: userID}}}
}

// httpError returns err as an HTTPError, failing the test otherwise.
func httpError(tb testing.TB, err error) *pipeline.HTTPError {
	tb.Helper()
	he, ok := err.(*pipeline.HTTPError)
	if !ok {
		tb.Fatalf("ServeHTTP() error = %v (%T), want *pipeline.HTTPError", err, err)
	}
	return he
}

// calls builds an aggregate from its calls with a 5s timeout.
func calls(cs ...*config.AggregateCall) *config.Aggregate {
	return &config.Aggregate{Timeout: config.Duration(5 * time.Second), Calls: cs}
}
