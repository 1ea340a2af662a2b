package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// BenchmarkLookupKey measures LookupKey against a store holding keys API
// keys spread over 100 consumers: the cost of a cache miss in
// authentication.
func BenchmarkLookupKey(b *testing.B, s store.Store, keys int) {
	ctx := context.Background()
	for c := range 100 {
		mustCreateConsumer(b, s, store.Consumer{ID: fmt.Sprintf("consumer-%03d", c), Plan: "pro", Groups: []string{"partners", "beta"}})
	}
	hashes := make([][]byte, keys)
	for i := range keys {
		id := fmt.Sprintf("key_%06d", i)
		hashes[i] = hash(id)
		mustCreateKey(b, s, store.APIKey{ID: id, ConsumerID: fmt.Sprintf("consumer-%03d", i%100), Prefix: "gk_" + id[4:], Hash: hashes[i]})
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, err := s.LookupKey(ctx, hashes[i%keys]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, _, err := s.LookupKey(ctx, hashes[i%keys]); err != nil {
					b.Error(err)
					return
				}
				i += 7
			}
		})
	})
}

// BenchmarkUpsertUsage measures one flush of rows ledger rows (distinct
// consumers in one minute) by one node, replayed each iteration as a
// flush of running totals is: the storage cost of metering per flush.
func BenchmarkUpsertUsage(b *testing.B, s store.Store, rows int) {
	ctx := context.Background()
	batch := make([]store.UsageRow, rows)
	minute := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	for i := range batch {
		batch[i] = store.UsageRow{Bucket: minute, Consumer: fmt.Sprintf("consumer-%05d", i), Route: "orders", Version: "v2",
			UsageCounts: store.UsageCounts{Requests: 10, Admitted: 10, Billable: 9, Units: 9, Errors: 1, BytesOut: 12000}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.UpsertUsage(ctx, "node-a", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
