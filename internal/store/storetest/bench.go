package storetest

import (
	"context"
	"fmt"
	"testing"

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
