package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/store"
)

func testChanges(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	if h := head(t, s); h != 0 {
		t.Fatalf("head of a new store = %d, want 0", h)
	}
	mustCreateConsumer(t, s, store.Consumer{ID: "acme"})
	mustCreateKey(t, s, store.APIKey{ID: "key_1", ConsumerID: "acme", Hash: hash("1")})
	mustCreateKey(t, s, store.APIKey{ID: "key_2", ConsumerID: "acme", Hash: hash("2")})
	if err := s.RevokeKey(ctx, "acme", "key_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConsumer(ctx, "acme"); err != nil {
		t.Fatal(err)
	}

	all, last := changes(t, s, 0)
	type entry struct {
		Kind, Consumer string
		Key            []byte
	}
	var got []entry
	for i, c := range all {
		got = append(got, entry{c.Kind, c.ConsumerID, c.KeyHash})
		if i > 0 && c.Seq <= all[i-1].Seq {
			t.Errorf("Changes()[%d].Seq = %d after %d, want increasing", i, c.Seq, all[i-1].Seq)
		}
	}
	want := []entry{
		{"consumer", "acme", nil},
		{"key", "acme", hash("1")},
		{"key", "acme", hash("2")},
		{"key", "acme", hash("1")}, // revoked
		{"key", "acme", hash("1")}, // deleted with the consumer...
		{"key", "acme", hash("2")},
		{"consumer", "acme", nil}, // ...which comes last
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []byte) bool { return string(a) == string(b) })); diff != "" {
		t.Errorf("Changes() mismatch (-want +got):\n%s", diff)
	}
	if last != all[len(all)-1].Seq || head(t, s) != last {
		t.Errorf("newest seq = %d, head = %d, want both %d", last, head(t, s), all[len(all)-1].Seq)
	}

	tests := []struct {
		name     string
		after    int64
		limit    int
		wantN    int
		wantNext int64
	}{
		{name: "first page", after: 0, limit: 2, wantN: 2, wantNext: all[1].Seq},
		{name: "middle page", after: all[1].Seq, limit: 2, wantN: 2, wantNext: all[3].Seq},
		{name: "short last page", after: all[4].Seq, limit: 5, wantN: 2, wantNext: last},
		{name: "nothing new keeps the cursor", after: last, limit: 5, wantN: 0, wantNext: last},
		{name: "beyond the head", after: last + 100, limit: 5, wantN: 0, wantNext: last + 100},
		{name: "limit 0 gives the head", after: 0, limit: 0, wantN: 0, wantNext: last},
		{name: "negative limit gives the head", after: 3, limit: -1, wantN: 0, wantNext: last},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, next, err := s.Changes(ctx, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("Changes(%d, %d): %v", tt.after, tt.limit, err)
			}
			if len(page) != tt.wantN || next != tt.wantNext {
				t.Errorf("Changes(%d, %d) = %d changes, next %d; want %d, %d", tt.after, tt.limit, len(page), next, tt.wantN, tt.wantNext)
			}
			if len(page) > 0 && page[0].Seq <= tt.after {
				t.Errorf("Changes(%d, %d)[0].Seq = %d, want > %d", tt.after, tt.limit, page[0].Seq, tt.after)
			}
		})
	}
}

func testConcurrency(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	mustCreateConsumer(t, s, store.Consumer{ID: "acme"})

	t.Run("keys", func(t *testing.T) {
		const workers, each = 8, 5
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers*each)
		// A poller beside the writers must see every change: a feed that
		// let a later seq commit before an earlier one would make it skip.
		seen := map[int64]bool{}
		stop := make(chan struct{})
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			var after int64
			for {
				// Once the writers are done, one more read picks up what
				// they committed since the last one; then the poller stops.
				done := false
				select {
				case <-stop:
					done = true
				default:
				}
				page, next, err := s.Changes(ctx, after, 100)
				if err != nil {
					errs <- fmt.Errorf("Changes(): %w", err)
					return
				}
				for _, c := range page {
					seen[c.Seq] = true
				}
				after = next
				if done && len(page) < 100 {
					return
				}
			}
		}()
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					id := fmt.Sprintf("key_%d_%d", w, i)
					errs <- s.CreateKey(ctx, store.APIKey{ID: id, ConsumerID: "acme", Hash: hash(id)})
					// Readers run beside the writers.
					if _, _, err := s.LookupKey(ctx, hash(id)); err != nil {
						errs <- fmt.Errorf("LookupKey(%s) after its creation: %w", id, err)
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		<-polled
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent CreateKey: %v", err)
			}
		}
		keys, err := s.ListKeys(ctx, "acme")
		if err != nil || len(keys) != workers*each {
			t.Errorf("ListKeys(acme) = %d keys, %v; want %d", len(keys), err, workers*each)
		}
		all, _ := changes(t, s, 0)
		var pollerMissed []int64
		for _, c := range all {
			// The consumer's entry may predate the poller's first read.
			if !seen[c.Seq] && c.Kind == "key" {
				pollerMissed = append(pollerMissed, c.Seq)
			}
		}
		if len(pollerMissed) > 0 {
			t.Errorf("a poller running during the writes missed seqs %v", pollerMissed)
		}
		if len(all) != 1+workers*each {
			t.Errorf("Changes() = %d entries, want %d", len(all), 1+workers*each)
		}
	})
	t.Run("same consumer", func(t *testing.T) {
		const workers = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			ok, dup int
		)
		for range workers {
			wg.Go(func() {
				err := s.CreateConsumer(ctx, store.Consumer{ID: "globex"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrExists):
					dup++
				default:
					t.Errorf("concurrent CreateConsumer: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != 1 || dup != workers-1 {
			t.Errorf("concurrent CreateConsumer: %d created, %d ErrExists; want 1, %d", ok, dup, workers-1)
		}
	})
}

func testContext(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateConsumer", func() error { return s.CreateConsumer(ctx, store.Consumer{ID: "acme"}) }},
		{"GetConsumer", func() error { _, err := s.GetConsumer(ctx, "acme"); return err }},
		{"ListConsumers", func() error { _, err := s.ListConsumers(ctx); return err }},
		{"LookupKey", func() error { _, _, err := s.LookupKey(ctx, hash("a")); return err }},
		{"SyncConfig", func() error { return s.SyncConfig(ctx, nil, nil) }},
		{"Changes", func() error { _, _, err := s.Changes(ctx, 0, 10); return err }},
		{"UpsertUsage", func() error {
			return s.UpsertUsage(ctx, "node-a", []store.UsageRow{{Bucket: time.Now(), Consumer: "acme", UsageCounts: store.UsageCounts{Requests: 1}}})
		}},
		{"QueryUsage", func() error {
			_, err := s.QueryUsage(ctx, store.UsageQuery{From: time.Now().Add(-time.Hour), To: time.Now()})
			return err
		}},
		{"DeleteUsageBefore", func() error { _, err := s.DeleteUsageBefore(ctx, time.Now()); return err }},
		{"SaveQuotaCounts", func() error {
			return s.SaveQuotaCounts(ctx, []store.QuotaCount{{Key: "quota:acme", PeriodEnd: time.Now().Add(time.Hour), Count: 1}})
		}},
		{"LoadQuotaCounts", func() error { _, err := s.LoadQuotaCounts(ctx, time.Now()); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); err == nil {
				t.Errorf("%s with a cancelled context = nil, want an error", c.name)
			}
		})
	}
	// Nothing was written.
	if _, err := s.GetConsumer(t.Context(), "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsumer(acme) = %v, want ErrNotFound", err)
	}
}
