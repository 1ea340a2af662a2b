package aggregate

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// TestBatchWithWorkerCalls: in a flat aggregate, the calls the request's
// goroutine sends itself (batch.go) and those that go to workers (a cached
// call, and one whose method h1 does not take, found when it is sent) give
// one answer together; whichever kind fails, the request ends at once,
// even with a slow call of the other kind still out, names the call that
// failed, and leaves no attempt counted in flight at any target.
func TestBatchWithWorkerCalls(t *testing.T) {
	t.Parallel()
	failing := failingUpstream(t).URL
	slow := jsonUpstream(t, 5*time.Second, `{}`).URL
	echo := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `"`+r.Method+` `+r.URL.Path+`"`)
	}).URL
	call := func(name, up, method string, cache time.Duration) *config.AggregateCall {
		return &config.AggregateCall{Name: name, Upstream: up, Path: "/" + name, Method: method, Cache: config.Duration(cache)}
	}
	tests := []struct {
		name  string
		calls []*config.AggregateCall
		// want is the answer, or failed the call that must be named
		want, failed string
	}{
		{
			name: "every kind answers",
			calls: []*config.AggregateCall{
				call("a", "echo", "GET", 0), call("p", "echo", "PROPFIND", 0),
				call("c", "echo", "GET", time.Minute), call("d", "echo", "GET", 0),
			},
			want: `{"a":"GET /a","p":"PROPFIND /p","c":"GET /c","d":"GET /d"}`,
		},
		{
			name:   "a refused call fails behind a slow batch call",
			calls:  []*config.AggregateCall{call("s", "slow", "GET", 0), call("p", "failing", "PROPFIND", 0)},
			failed: "p",
		},
		{
			name:   "a cached call fails behind a slow batch call",
			calls:  []*config.AggregateCall{call("s", "slow", "GET", 0), call("c", "failing", "GET", time.Minute)},
			failed: "c",
		},
		{
			name:   "a batch call fails before slow ones",
			calls:  []*config.AggregateCall{call("b", "failing", "GET", 0), call("s", "slow", "GET", 0), call("t", "slow", "GET", 0)},
			failed: "b",
		},
		{
			name:   "a batch call fails after slow ones",
			calls:  []*config.AggregateCall{call("s", "slow", "GET", 0), call("t", "slow", "GET", 0), call("b", "failing", "GET", 0)},
			failed: "b",
		},
		{
			name:   "a batch call fails while a worker call is slow",
			calls:  []*config.AggregateCall{call("c", "slow", "GET", time.Minute), call("b", "failing", "GET", 0)},
			failed: "b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := setup{upstreams: map[string][]string{"failing": {failing}, "slow": {slow}, "echo": {echo}}}
			h, pools := s.build(t, calls(tt.calls...))
			start := time.Now()
			rec, err := serve(h, "/dashboard/1", params("1"))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the request took %v; a slow call held it up", d)
			}
			for name, p := range pools {
				for _, tg := range p.Targets() {
					if n := tg.InFlight(); n != 0 {
						t.Errorf("upstream %s: %d attempts still counted in flight", name, n)
					}
				}
			}
			if tt.failed == "" {
				if err != nil {
					t.Fatalf("ServeHTTP() error: %v", err)
				}
				if got := rec.Body.String(); got != tt.want {
					t.Errorf("answer = %s, want %s", got, tt.want)
				}
				return
			}
			he := httpError(t, err)
			if he.Status != http.StatusBadGateway || !strings.Contains(he.Message, `"`+tt.failed+`"`) {
				t.Errorf("error = %d %q, want 502 naming call %q", he.Status, he.Message, tt.failed)
			}
		})
	}
}

// The batch calls' paths share one builder (build): each call still sends
// its own path and query, whether they fit in the room made for them or
// make the builder grow, short and long ones mixed.
func TestBatchPaths(t *testing.T) {
	t.Parallel()
	echo := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `"`+r.URL.RequestURI()+`"`)
	}).URL
	long := strings.Repeat("x", 3*pathRoom)
	cs := []*config.AggregateCall{
		{Name: "a", Upstream: "echo", Path: "/a/{user_id}"},
		{Name: "b", Upstream: "echo", Path: "/b/" + long + "/{user_id}?q=" + long},
		{Name: "c", Upstream: "echo", Path: "/c?user={user_id}"},
		{Name: "d", Upstream: "echo", Path: "/d/" + long},
	}
	s := setup{upstreams: map[string][]string{"echo": {echo}}}
	h, _ := s.build(t, calls(cs...))
	for range 3 {
		rec, err := serve(h, "/dashboard/7", params("7"))
		if err != nil {
			t.Fatalf("ServeHTTP() error: %v", err)
		}
		want := `{"a":"/a/7","b":"/b/` + long + `/7?q=` + long + `","c":"/c?user=7","d":"/d/` + long + `"}`
		if got := rec.Body.String(); got != want {
			t.Errorf("answer = %s\nwant %s", got, want)
		}
	}
}
