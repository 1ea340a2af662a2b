package cache

import (
	"context"
	"math"
	"time"

	"github.com/maypok86/otter/v2"
)

// Memory is the in-process store: bounded by the bytes of its entries,
// with otter's admission and eviction (W-TinyLFU, weighted by entry size)
// and an expiry per entry. It is safe for concurrent use.
type Memory struct {
	c *otter.Cache[string, *memoryItem]
}

// memoryItem is an entry and how long to keep it.
type memoryItem struct {
	route string
	e     *Entry
	keep  time.Duration
	size  uint32
}

var _ Store = (*Memory)(nil)

// NewMemory returns a memory store of at most maxBytes.
func NewMemory(maxBytes int64) *Memory {
	c := otter.Must(&otter.Options[string, *memoryItem]{
		MaximumWeight: uint64(max(maxBytes, 1)),
		Weigher:       func(k string, v *memoryItem) uint32 { return v.size },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *memoryItem]) time.Duration {
			return e.Value.keep
		}),
	})
	return &Memory{c: c}
}

func memoryKey(route, key string) string { return route + "\x00" + key }

// Get implements Store.
func (m *Memory) Get(_ context.Context, route, key string) (*Entry, error) {
	it, ok := m.c.GetIfPresent(memoryKey(route, key))
	if !ok {
		return nil, nil
	}
	return it.e, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, route, key string, e *Entry, keep time.Duration) error {
	if keep <= 0 {
		m.c.Invalidate(memoryKey(route, key))
		return nil
	}
	k := memoryKey(route, key)
	size := min(e.Size()+len(k), math.MaxUint32)
	m.c.Set(k, &memoryItem{route: route, e: e, keep: keep, size: uint32(size)})
	return nil
}

// Purge implements Store. It walks every entry: purges are rare.
func (m *Memory) Purge(_ context.Context, route, path string) error {
	for k, it := range m.c.All() {
		if it.route == route && (path == "" || it.e.Path == path) {
			m.c.Invalidate(k)
		}
	}
	return nil
}

// Bytes is the weight of the entries held, after the store's pending
// bookkeeping (admissions, evictions) is done.
func (m *Memory) Bytes() int64 {
	m.c.CleanUp()
	return int64(m.c.WeightedSize())
}

// Entries is the number of entries held, after the store's pending
// bookkeeping is done.
func (m *Memory) Entries() int64 {
	m.c.CleanUp()
	return int64(m.c.EstimatedSize())
}

// Close implements Store.
func (m *Memory) Close() error {
	m.c.InvalidateAll()
	return nil
}
