package upstream

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/google/go-cmp/cmp"
)

// newTestPool builds a pool of targets http://127.0.0.1:9101, :9102, ...
// with the given weights.
func newTestPool(tb testing.TB, weights ...int) *Pool {
	tb.Helper()
	cfg := &config.Upstream{}
	for i, w := range weights {
		cfg.Targets = append(cfg.Targets, &config.Target{URL: fmt.Sprintf("http://127.0.0.1:%d", 9101+i), Weight: w})
	}
	p, err := NewPool("users", cfg)
	if err != nil {
		tb.Fatalf("NewPool() error: %v", err)
	}
	return p
}

// label maps the targets of newTestPool to a, b, c, ...
func label(p *Pool, t *Target) string {
	for i, x := range p.Targets {
		if x == t {
			return string(rune('a' + i))
		}
	}
	return "?"
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
			p := newTestPool(t, tt.weights...)
			var b strings.Builder
			for range len(tt.want) {
				tg, err := p.Pick(nil)
				if err != nil {
					t.Fatalf("Pick() error: %v", err)
				}
				b.WriteString(label(p, tg))
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
			p := newTestPool(t, tt.weights...)
			got := map[string]int{}
			// Concurrent pickers must still produce the exact distribution.
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					local := map[string]int{}
					for range 1000 {
						tg, err := p.Pick(nil)
						if err != nil {
							t.Errorf("Pick() error: %v", err)
							return
						}
						local[label(p, tg)]++
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
