package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// Run runs the conformance suite. open must return a new, empty, migrated
// store for each call and close it when the test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	suites := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"Consumers", testConsumers},
		{"DeleteConsumer", testDeleteConsumer},
		{"Keys", testKeys},
		{"RevokeKey", testRevokeKey},
		{"SyncConfig", testSyncConfig},
		{"Changes", testChanges},
		{"Concurrency", testConcurrency},
		{"Context", testContext},
		{"UsageUpsert", testUsageUpsert},
		{"UsageQuery", testUsageQuery},
		{"UsageModels", testUsageModels},
		{"DeleteUsage", testDeleteUsage},
		{"UsageConcurrency", testUsageConcurrency},
		{"QuotaCounts", testQuotaCounts},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, open)
		})
	}
}

// RunShared checks that two stores opened on the same database see each
// other's writes at once, consumers, keys and usage: what two gateway nodes
// rely on.
func RunShared(t *testing.T, a, b store.Store) {
	t.Helper()
	ctx := t.Context()
	mustCreateConsumer(t, a, store.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}})
	_, head := changes(t, b, 0)
	mustCreateKey(t, a, store.APIKey{ID: "key_live", ConsumerID: "acme", Prefix: "gk_live", Hash: hash("live")})

	k, c, err := b.LookupKey(ctx, hash("live"))
	if err != nil {
		t.Fatalf("LookupKey() on the second store: %v", err)
	}
	if k.ID != "key_live" || c.ID != "acme" || c.Plan != "pro" {
		t.Errorf("LookupKey() = %s of %s (%s), want key_live of acme (pro)", k.ID, c.ID, c.Plan)
	}
	if err := a.RevokeKey(ctx, "acme", "key_live"); err != nil {
		t.Fatalf("RevokeKey(): %v", err)
	}
	if _, _, err := b.LookupKey(ctx, hash("live")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LookupKey() of a key revoked through the other store = %v, want ErrNotFound", err)
	}
	got, _ := changes(t, b, head)
	if !hasKeyChange(got, hash("live")) {
		t.Errorf("Changes() on the second store = %v, want the revocation", got)
	}
	sharedUsage(t, a, b)
}

// hash is the SHA-256 of a made-up plaintext key.
func hash(plain string) []byte {
	h := sha256.Sum256([]byte("gk_" + plain))
	return h[:]
}

func mustCreateConsumer(t testing.TB, s store.Store, c store.Consumer) {
	t.Helper()
	if err := s.CreateConsumer(context.Background(), c); err != nil {
		t.Fatalf("CreateConsumer(%s): %v", c.ID, err)
	}
}

func mustCreateKey(t testing.TB, s store.Store, k store.APIKey) {
	t.Helper()
	if err := s.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) store.Consumer {
	t.Helper()
	c, err := s.GetConsumer(t.Context(), id)
	if err != nil {
		t.Fatalf("GetConsumer(%s): %v", id, err)
	}
	return c
}

func mustSync(t *testing.T, s store.Store, cs []store.Consumer, ks []store.APIKey) {
	t.Helper()
	if err := s.SyncConfig(t.Context(), cs, ks); err != nil {
		t.Fatalf("SyncConfig(): %v", err)
	}
}

// changes reads the whole feed after seq, in small pages to exercise
// paging, and returns it with the new head.
func changes(t *testing.T, s store.Store, after int64) ([]store.Change, int64) {
	t.Helper()
	var all []store.Change
	for {
		page, next, err := s.Changes(t.Context(), after, 3)
		if err != nil {
			t.Fatalf("Changes(%d, 3): %v", after, err)
		}
		all = append(all, page...)
		if len(page) == 0 {
			return all, next
		}
		after = next
	}
}

// head is the newest seq in the feed.
func head(t *testing.T, s store.Store) int64 {
	t.Helper()
	_, h, err := s.Changes(t.Context(), 0, 0)
	if err != nil {
		t.Fatalf("Changes(0, 0): %v", err)
	}
	return h
}

func hasKeyChange(cs []store.Change, h []byte) bool {
	for _, c := range cs {
		if c.Kind == "key" && string(c.KeyHash) == string(h) {
			return true
		}
	}
	return false
}

func hasConsumerChange(cs []store.Change, id string) bool {
	for _, c := range cs {
		if c.Kind == "consumer" && c.ConsumerID == id {
			return true
		}
	}
	return false
}

// recent reports whether t was set by the store just now, in UTC.
func recent(t time.Time) bool {
	return t.Location() == time.UTC && time.Since(t) < time.Minute && time.Since(t) > -time.Minute
}
