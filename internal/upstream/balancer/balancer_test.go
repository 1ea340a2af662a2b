package balancer

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/google/go-cmp/cmp"
)

// fake is a Backend whose state the test sets.
type fake struct {
	down     atomic.Bool
	inflight atomic.Int64
	cost     atomic.Uint64 // float64 bits
}

func (f *fake) Available() bool { return !f.down.Load() }
func (f *fake) InFlight() int64 { return f.inflight.Load() }
func (f *fake) Cost() float64   { return math.Float64frombits(f.cost.Load()) }
func (f *fake) setCost(ns float64) {
	f.cost.Store(math.Float64bits(ns))
}

// members returns members a, b, c, ... with the given weights.
func members(weights ...int) ([]Member, []*fake) {
	ms := make([]Member, len(weights))
	fs := make([]*fake, len(weights))
	for i, w := range weights {
		fs[i] = &fake{}
		ms[i] = Member{Backend: fs[i], Weight: w, Key: fmt.Sprintf("http://10.0.0.%d:8080", i+1)}
	}
	return ms, fs
}

func label(i int) string {
	if i < 0 {
		return "-"
	}
	return string(rune('a' + i))
}

func mustNew(t testing.TB, kind, hashOn string, ms []Member) Picker {
	t.Helper()
	p, err := New(kind, hashOn, ms)
	if err != nil {
		t.Fatalf("New(%q) error: %v", kind, err)
	}
	return p
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	ms, _ := members(1)
	tests := []struct {
		name, kind, hashOn string
		ms                 []Member
		wantErr            string
	}{
		{"no members", RoundRobin, "", nil, "no members"},
		{"zero weight", RoundRobin, "", []Member{{Backend: &fake{}}}, "weight"},
		{"unknown", "random", "", ms, "unknown balancer"},
		{"hash without key", Hash, "", ms, "hash_on"},
		{"hash bad key", Hash, "path", ms, "hash_on"},
		{"hash empty header", Hash, "header:", ms, "hash_on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.kind, tt.hashOn, tt.ms)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRoundRobinOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
		want    string // one full cycle, repeated twice
	}{
		{"single", []int{1}, "aa"},
		{"equal", []int{1, 1, 1}, "abcabc"},
		{"equal heavy", []int{4, 4}, "abab"},
		{"3:1 interleaves", []int{3, 1}, "aabaaaba"},
		{"nginx 5:1:1", []int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"1:3", []int{1, 3}, "babbbabb"},
		{"2:1:1", []int{2, 1, 1}, "abcaabca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, _ := members(tt.weights...)
			p := mustNew(t, RoundRobin, "", ms)
			var b strings.Builder
			for range len(tt.want) {
				b.WriteString(label(p.Pick(nil, 0)))
			}
			if got := b.String(); got != tt.want {
				t.Errorf("Pick() sequence = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRoundRobinDistribution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
		want    map[string]int
	}{
		{"3:1", []int{3, 1}, map[string]int{"a": 3000, "b": 1000}},
		{"equal", []int{1, 1, 1, 1}, map[string]int{"a": 1000, "b": 1000, "c": 1000, "d": 1000}},
		{"5:2:1", []int{5, 2, 1}, map[string]int{"a": 2500, "b": 1000, "c": 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, _ := members(tt.weights...)
			p := mustNew(t, RoundRobin, "", ms)
			got := map[string]int{}
			// Concurrent pickers must still produce the exact distribution.
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					local := map[string]int{}
					for range 1000 {
						local[label(p.Pick(nil, 0))]++
					}
					mu.Lock()
					for k, v := range local {
						got[k] += v
					}
					mu.Unlock()
				})
			}
			wg.Wait()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("distribution over 4000 picks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSkips checks every balancer against unavailable and tried members.
func TestSkips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind, hashOn string
		weights      []int
	}{
		{RoundRobin, "", []int{1, 1, 1}},
		{RoundRobin, "", []int{5, 1, 2}},
		{LeastConn, "", []int{1, 2, 1}},
		{p2CEWMA, "", []int{1, 1, 1}},
		{Hash, "header:X-User-ID", []int{1, 1, 1}},
		{Hash, "ip", []int{3, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.kind, tt.weights), func(t *testing.T) {
			t.Parallel()
			ms, fs := members(tt.weights...)
			p := mustNew(t, tt.kind, tt.hashOn, ms)
			req := func(i int) *http.Request {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("X-User-ID", fmt.Sprint("user-", i))
				r.RemoteAddr = fmt.Sprintf("192.0.2.%d:4000", i%250)
				return r
			}
			fs[0].down.Store(true)
			for i := range 200 {
				if got := p.Pick(req(i), 0); got != 1 && got != 2 {
					t.Fatalf("Pick() with a down = %s, want b or c", label(got))
				}
				if got := p.Pick(req(i), Tried(0).With(1)); got != 2 {
					t.Fatalf("Pick() with a down and b tried = %s, want c", label(got))
				}
			}
			if got := p.Pick(req(0), Tried(0).With(1).With(2)); got != -1 {
				t.Fatalf("Pick() with a down, b and c tried = %s, want none", label(got))
			}
			fs[1].down.Store(true)
			fs[2].down.Store(true)
			if got := p.Pick(req(0), 0); got != -1 {
				t.Fatalf("Pick() with every member down = %s, want none", label(got))
			}
			fs[0].down.Store(false)
			if got := p.Pick(req(0), 0); got != 0 {
				t.Fatalf("Pick() = %s, want the one available member a", label(got))
			}
		})
	}
}

func TestTried(t *testing.T) {
	t.Parallel()
	var tr Tried
	tr = tr.With(0).With(63).With(64).With(-1)
	for i, want := range map[int]bool{0: true, 1: false, 63: true, 64: false, -1: false} {
		if got := tr.Has(i); got != want {
			t.Errorf("Has(%d) = %v, want %v", i, got, want)
		}
	}
}

func TestLeastConn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		weights  []int
		inflight []int64
		want     map[string]bool // acceptable picks
	}{
		{"idle wins", []int{1, 1, 1}, []int64{4, 0, 2}, map[string]bool{"b": true}},
		{"weighted", []int{1, 3}, []int64{1, 2}, map[string]bool{"b": true}}, // 1/1 > 2/3
		{"weighted tie", []int{1, 2}, []int64{1, 2}, map[string]bool{"a": true, "b": true}},
		{"all idle", []int{1, 1, 1}, []int64{0, 0, 0}, map[string]bool{"a": true, "b": true, "c": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, fs := members(tt.weights...)
			for i, n := range tt.inflight {
				fs[i].inflight.Store(n)
			}
			p := mustNew(t, LeastConn, "", ms)
			got := map[string]int{}
			for range 3000 {
				got[label(p.Pick(nil, 0))]++
			}
			for k, n := range got {
				if !tt.want[k] {
					t.Errorf("Pick() = %s %d times, want only %v", k, n, tt.want)
				}
			}
			// Ties are shared, not all sent to the first member.
			for k := range tt.want {
				if len(tt.want) > 1 && got[k] < 3000/len(tt.want)*8/10 {
					t.Errorf("tie member %s picked %d of 3000 times, want about %d", k, got[k], 3000/len(tt.want))
				}
			}
		})
	}
}

func TestP2C(t *testing.T) {
	t.Parallel()
	ms, fs := members(1, 1, 1)
	p := mustNew(t, p2CEWMA, "", ms)
	fs[0].setCost(float64(50e6)) // 50 ms
	fs[1].setCost(1e6)
	fs[2].setCost(1e6)
	got := map[string]int{}
	for range 3000 {
		got[label(p.Pick(nil, 0))]++
	}
	// a is only picked when it is not among the two choices' winner: never,
	// since the other choice is always faster.
	if got["a"] != 0 || got["b"] < 1200 || got["c"] < 1200 {
		t.Errorf("picks = %v, want none for the slow a and about 1500 each for b and c", got)
	}
	// In-flight load counts: b busy with 100 attempts costs more than a.
	fs[1].inflight.Store(100)
	got = map[string]int{}
	for range 3000 {
		got[label(p.Pick(nil, 0))]++
	}
	if got["b"] != 0 {
		t.Errorf("picks = %v, want none for the busy b", got)
	}
	// An unmeasured member with work in flight loses to a measured one.
	ms2, fs2 := members(1, 1)
	p2 := mustNew(t, p2CEWMA, "", ms2)
	fs2[0].inflight.Store(1)
	fs2[1].setCost(5e6)
	for range 100 {
		if got := p2.Pick(nil, 0); got != 1 {
			t.Fatalf("Pick() = %s, want the measured b", label(got))
		}
	}
}

func TestHashKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hashOn string
		set    func(r *http.Request, key string)
	}{
		{"header:X-User-ID", func(r *http.Request, k string) { r.Header.Set("X-User-Id", k) }},
		{"cookie:session", func(r *http.Request, k string) {
			r.Header.Add("Cookie", "theme=dark; session="+k)
		}},
		{"query:tenant", func(r *http.Request, k string) { r.URL.RawQuery = "a=1&tenant=" + k }},
		{"ip", func(r *http.Request, k string) {
			*r = *r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ClientIP: k}))
		}},
		{"consumer", func(r *http.Request, k string) {
			*r = *r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ClientIP: "192.0.2.1", Consumer: &pipeline.Consumer{ID: k}}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.hashOn, func(t *testing.T) {
			t.Parallel()
			ms, _ := members(1, 1, 1, 1)
			p := mustNew(t, Hash, tt.hashOn, ms)
			spread := map[int]int{}
			for i := range 400 {
				key := fmt.Sprint("acme-", i)
				first := -1
				for range 3 {
					r := httptest.NewRequest("GET", "/orders", nil)
					r.RemoteAddr = fmt.Sprintf("198.51.100.%d:5000", i%200)
					tt.set(r, key)
					got := p.Pick(r, 0)
					if first >= 0 && got != first {
						t.Fatalf("key %q went to %s then %s", key, label(first), label(got))
					}
					first = got
				}
				spread[first]++
			}
			for m := range 4 {
				if spread[m] < 50 {
					t.Errorf("member %s got %d of 400 keys, want about 100: %v", label(m), spread[m], spread)
				}
			}
		})
	}
}

func TestHashFallsBackToIP(t *testing.T) {
	t.Parallel()
	ms, _ := members(1, 1, 1, 1, 1)
	p := mustNew(t, Hash, "header:X-User-ID", ms)
	ip := mustNew(t, Hash, "ip", ms)
	for i := range 50 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = fmt.Sprintf("203.0.113.%d:6000", i)
		if a, b := p.Pick(r, 0), ip.Pick(r, 0); a != b {
			t.Fatalf("request without the header went to %s, hash_on ip to %s", label(a), label(b))
		}
	}
}

func TestHashConsistency(t *testing.T) {
	t.Parallel()
	const keys = 10000
	for _, n := range []int{3, 4, 9} {
		t.Run(fmt.Sprintf("%d->%d", n, n+1), func(t *testing.T) {
			t.Parallel()
			weights := make([]int, n+1)
			for i := range weights {
				weights[i] = 1
			}
			all, fs := members(weights...)
			before := mustNew(t, Hash, "header:X-User-ID", all[:n]).(*hash)
			after := mustNew(t, Hash, "header:X-User-ID", all).(*hash)
			moved, toNew := 0, 0
			downMoved := 0
			for i := range keys {
				k := sum(fmt.Sprint("user-", i))
				a, b := before.lookup(k, 0), after.lookup(k, 0)
				if a != b {
					moved++
					if b == n {
						toNew++
					}
				}
				// Taking member 0 out moves only member 0's keys.
				fs[0].down.Store(true)
				c := after.lookup(k, 0)
				fs[0].down.Store(false)
				if b != 0 && c != b {
					downMoved++
				}
			}
			want := float64(keys) / float64(n+1)
			if f := float64(moved); f < want*0.7 || f > want*1.3 {
				t.Errorf("adding a member moved %d of %d keys, want about %.0f", moved, keys, want)
			}
			if toNew != moved {
				t.Errorf("%d of %d moved keys went to old members, want all to the new one", moved-toNew, moved)
			}
			if downMoved != 0 {
				t.Errorf("taking a member out moved %d keys of other members, want 0", downMoved)
			}
		})
	}
}

func TestHashWeights(t *testing.T) {
	t.Parallel()
	ms, _ := members(3, 1)
	p := mustNew(t, Hash, "header:X-User-ID", ms).(*hash)
	got := [2]int{}
	for i := range 20000 {
		got[p.lookup(sum(fmt.Sprint("user-", i)), 0)]++
	}
	if share := float64(got[0]) / 20000; share < 0.70 || share > 0.80 {
		t.Errorf("weight 3 of 4 got %.2f of the keys, want about 0.75", share)
	}
}

func TestHashHugeWeights(t *testing.T) {
	t.Parallel()
	ms, _ := members(1_000_000, 1_000_000, 1)
	p := mustNew(t, Hash, "ip", ms).(*hash)
	if len(p.ring) > maxPoints+len(ms) {
		t.Errorf("ring has %d points, want at most %d", len(p.ring), maxPoints+len(ms))
	}
}

func TestZeroAllocs(t *testing.T) {
	r := httptest.NewRequest("GET", "/orders?tenant=acme", nil)
	r.Header.Set("X-User-ID", "user-42")
	r.Header.Set("Cookie", "theme=dark; session=s-42")
	r = r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ClientIP: "192.0.2.7", Consumer: &pipeline.Consumer{ID: "acme"}}))
	tests := []struct{ kind, hashOn string }{
		{RoundRobin, ""}, {LeastConn, ""}, {p2CEWMA, ""},
		{Hash, "header:X-User-ID"}, {Hash, "cookie:session"}, {Hash, "query:tenant"}, {Hash, "ip"}, {Hash, "consumer"},
	}
	for _, tt := range tests {
		ms, _ := members(1, 2, 3)
		p := mustNew(t, tt.kind, tt.hashOn, ms)
		if n := testing.AllocsPerRun(100, func() { p.Pick(r, Tried(0).With(1)) }); n != 0 {
			t.Errorf("%s %s: Pick() allocates %.1f times, want 0", tt.kind, tt.hashOn, n)
		}
	}
}

func TestCookieAndQueryValue(t *testing.T) {
	t.Parallel()
	cookies := []struct {
		lines []string
		name  string
		want  string
	}{
		{[]string{"a=1; session=abc"}, "session", "abc"},
		{[]string{"a=1", "session=\"q\""}, "session", "q"},
		{[]string{"sessionx=1; session=2"}, "session", "2"},
		{[]string{"a=1"}, "session", ""},
		{nil, "session", ""},
	}
	for _, c := range cookies {
		if got := cookieValue(c.lines, c.name); got != c.want {
			t.Errorf("cookieValue(%q, %q) = %q, want %q", c.lines, c.name, got, c.want)
		}
	}
	queries := []struct{ raw, name, want string }{
		{"tenant=acme", "tenant", "acme"},
		{"a=1&tenant=a%20b&tenant=x", "tenant", "a%20b"},
		{"tenants=1", "tenant", ""},
		{"", "tenant", ""},
	}
	for _, q := range queries {
		if got := queryValue(q.raw, q.name); got != q.want {
			t.Errorf("queryValue(%q, %q) = %q, want %q", q.raw, q.name, got, q.want)
		}
	}
}

func TestRoundRobinRetryKeepsCycle(t *testing.T) {
	t.Parallel()
	// A dead a must get its share of first attempts (1 in 3), not every
	// one: a retry's pick does not advance the cycle.
	ms, _ := members(1, 1, 1)
	p := mustNew(t, RoundRobin, "", ms)
	first := map[string]int{}
	for range 300 {
		i := p.Pick(nil, 0)
		first[label(i)]++
		if i == 0 {
			if j := p.Pick(nil, Tried(0).With(0)); j == 0 || j < 0 {
				t.Fatalf("retry Pick() = %s", label(j))
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"a": 100, "b": 100, "c": 100}, first); diff != "" {
		t.Errorf("first attempts (-want +got):\n%s", diff)
	}
}

// TestShareWithOneDown checks that the survivors share a down member's
// traffic evenly (weights kept), for every balancer: with one of three out,
// the next member in order must not take the whole share.
func TestShareWithOneDown(t *testing.T) {
	t.Parallel()
	const picks = 3000
	tests := []struct {
		name, kind, hashOn string
		weights            []int
		down               int
		retries            bool // picks are retries with the down member tried
		want               map[string]float64
		tolerance          float64 // of the picks
	}{
		{"round_robin equal, a down", RoundRobin, "", []int{1, 1, 1}, 0, false, map[string]float64{"b": .5, "c": .5}, .001},
		{"round_robin equal, b down", RoundRobin, "", []int{1, 1, 1}, 1, false, map[string]float64{"a": .5, "c": .5}, .001},
		{"round_robin equal, retries of a", RoundRobin, "", []int{1, 1, 1}, -1, true, map[string]float64{"b": .5, "c": .5}, .001},
		{"round_robin 3:1:1, the 3 down", RoundRobin, "", []int{3, 1, 1}, 0, false, map[string]float64{"b": .5, "c": .5}, .001},
		{"round_robin 1:2:2, a down", RoundRobin, "", []int{1, 2, 2}, 0, false, map[string]float64{"b": .5, "c": .5}, .001},
		{"round_robin 1:3:1, a down", RoundRobin, "", []int{1, 3, 1}, 0, false, map[string]float64{"b": .75, "c": .25}, .001},
		{"round_robin 4 equal, b down", RoundRobin, "", []int{1, 1, 1, 1}, 1, false, map[string]float64{"a": 1. / 3, "c": 1. / 3, "d": 1. / 3}, .001},
		{"least_conn, a down", LeastConn, "", []int{1, 1, 1}, 0, false, map[string]float64{"b": .5, "c": .5}, .05},
		{"p2c_ewma, a down", p2CEWMA, "", []int{1, 1, 1}, 0, false, map[string]float64{"b": .5, "c": .5}, .05},
		{"hash, a down", Hash, "header:X-User-ID", []int{1, 1, 1}, 0, false, map[string]float64{"b": .5, "c": .5}, .08},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, fs := members(tt.weights...)
			p := mustNew(t, tt.kind, tt.hashOn, ms)
			var tried Tried
			if tt.down >= 0 {
				fs[tt.down].down.Store(true)
			}
			if tt.retries {
				tried = tried.With(0)
			}
			r := httptest.NewRequest("GET", "/", nil)
			got := map[string]int{}
			for i := range picks {
				r.Header.Set("X-User-ID", fmt.Sprint("user-", i))
				got[label(p.Pick(r, tried))]++
			}
			if len(got) != len(tt.want) {
				t.Fatalf("picks went to %v, want only %v", got, tt.want)
			}
			for k, share := range tt.want {
				if d := math.Abs(float64(got[k])/picks - share); d > tt.tolerance {
					t.Errorf("member %s got %d of %d picks, want %.0f ± %.0f", k, got[k], picks, share*picks, tt.tolerance*picks)
				}
			}
		})
	}
}

// TestRoundRobinShareAfterFlap checks that a member coming back gets its
// share again at once and that the others go back to theirs.
func TestRoundRobinShareAfterFlap(t *testing.T) {
	t.Parallel()
	ms, fs := members(1, 1, 1)
	p := mustNew(t, RoundRobin, "", ms)
	fs[2].down.Store(true)
	for range 100 {
		p.Pick(nil, 0)
	}
	fs[2].down.Store(false)
	got := map[string]int{}
	for range 300 {
		got[label(p.Pick(nil, 0))]++
	}
	if diff := cmp.Diff(map[string]int{"a": 100, "b": 100, "c": 100}, got); diff != "" {
		t.Errorf("distribution after c came back (-want +got):\n%s", diff)
	}
}
