package keyauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/store"
)

// TestChangeFeed drives the cache through the store's change feed with a
// short poll interval, as a second node sharing the database would see it.
func TestChangeFeed(t *testing.T) {
	t.Parallel()
	const poll = 20 * time.Millisecond
	tests := []struct {
		name   string
		change func(t *testing.T, st *memStore, k store.APIKey)
		// check returns true once the node reflects the change.
		check func(cons *pipeline.Consumer, ok bool, err error) bool
	}{
		{
			name: "revoked key",
			change: func(t *testing.T, st *memStore, k store.APIKey) {
				if err := st.RevokeKey(context.Background(), k.ConsumerID, k.ID); err != nil {
					t.Error(err)
				}
			},
			check: func(_ *pipeline.Consumer, _ bool, err error) bool { return statusOf(err) == 401 },
		},
		{
			name: "deleted consumer",
			change: func(t *testing.T, st *memStore, k store.APIKey) {
				if err := st.DeleteConsumer(context.Background(), k.ConsumerID); err != nil {
					t.Error(err)
				}
			},
			check: func(_ *pipeline.Consumer, _ bool, err error) bool { return statusOf(err) == 401 },
		},
		{
			name: "consumer changes plan",
			change: func(_ *testing.T, st *memStore, k store.APIKey) {
				st.UpdateConsumer(store.Consumer{ID: k.ConsumerID, Plan: "enterprise", Groups: []string{"partners", "beta"}})
			},
			check: func(c *pipeline.Consumer, ok bool, _ error) bool { return ok && c.Plan == "enterprise" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newMemStore()
			key, k := seed(t, st)
			other, _ := addKey(t, st, "acme")
			// A long CacheTTL: only the feed can make the change visible.
			a, _ := newAuth(t, st, Options{PollInterval: poll, CacheTTL: time.Hour, NegativeTTL: time.Hour})
			for _, kk := range []string{key, other} {
				if _, ok, err := a.Authenticate(keyRequest(kk)); !ok || err != nil {
					t.Fatalf("before the change: %v, %v", ok, err)
				}
			}
			tt.change(t, st, k)
			took := eventually(t, time.Second, func() bool {
				return tt.check(a.Authenticate(keyRequest(key)))
			})
			if took > 500*time.Millisecond {
				t.Errorf("change visible after %v, want within a few poll intervals of %v", took, poll)
			}
		})
	}
}

func TestChangeFeedDropsNegativeOnCreate(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	seed(t, st)
	a, _ := newAuth(t, st, Options{PollInterval: 20 * time.Millisecond, NegativeTTL: time.Hour})
	plain, k, _ := Generate()
	if _, _, err := a.Authenticate(keyRequest(plain)); statusOf(err) != 401 {
		t.Fatalf("error = %v, want 401", err)
	}
	k.ConsumerID = "acme"
	if err := st.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() bool {
		_, ok, _ := a.Authenticate(keyRequest(plain))
		return ok
	})
}

func TestChangeFeedBacklog(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	key, k := seed(t, st)
	for range 2*changeBatch + 10 {
		st.UpdateConsumer(store.Consumer{ID: "globex"})
	}
	a, _ := newAuth(t, st, Options{PollInterval: 20 * time.Millisecond, CacheTTL: time.Hour})
	eventually(t, time.Second, func() bool { return st.changeReads.Load() >= 3 })
	if _, ok, err := a.Authenticate(keyRequest(key)); !ok || err != nil {
		t.Fatalf("Authenticate() = %v, %v", ok, err)
	}
	if err := st.RevokeKey(t.Context(), "acme", k.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() bool {
		_, _, err := a.Authenticate(keyRequest(key))
		return statusOf(err) == 401
	})
}

func TestChangeFeedReset(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	key, _ := seed(t, st)
	a, sink := newAuth(t, st, Options{PollInterval: 10 * time.Millisecond, CacheTTL: time.Hour})
	eventually(t, time.Second, func() bool { return st.changeReads.Load() >= 2 })
	if _, ok, _ := a.Authenticate(keyRequest(key)); !ok {
		t.Fatal("key refused")
	}
	// The database is restored from an older copy: the feed's head goes
	// back, and the key is gone.
	st.mu.Lock()
	st.changes, st.seq, st.keys = nil, 0, nil
	st.record(store.Change{Kind: kindConsumer, ConsumerID: "globex"})
	st.mu.Unlock()
	eventually(t, time.Second, func() bool {
		_, _, err := a.Authenticate(keyRequest(key))
		return statusOf(err) == 401
	})
	if !strings.Contains(sink.String(), "went backwards") {
		t.Errorf("no log line for the reset feed")
	}
}

func TestCloseStopsPoller(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	a, err := buildStarted(context.Background(), Options{Store: st, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() bool { return st.changeReads.Load() >= 2 })
	a.Close()
	a.Close()
	n := st.changeReads.Load()
	time.Sleep(30 * time.Millisecond)
	if got := st.changeReads.Load(); got != n {
		t.Errorf("change feed read %d times after Close", got-n)
	}
}

func TestNegativeEntriesSwept(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	clk := newClock()
	a, _ := newAuth(t, st, Options{Now: clk.Now, PollInterval: 5 * time.Millisecond, NegativeTTL: time.Second})
	for range 10 {
		bad, _, _ := Generate()
		a.Authenticate(keyRequest(bad))
	}
	if _, neg := a.cache.len(); neg != 10 {
		t.Fatalf("%d negative entries, want 10", neg)
	}
	clk.Advance(2 * time.Second)
	eventually(t, time.Second, func() bool { _, neg := a.cache.len(); return neg == 0 })
}
