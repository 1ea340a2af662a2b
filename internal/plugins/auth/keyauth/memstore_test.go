package keyauth

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// errDown is what memStore returns while it plays an outage.
var errDown = errors.New("connection refused")

// memStore is an in-memory store.Store that counts calls and can fail or
// stall on demand. It records a change for every key and consumer write,
// like the real stores.
type memStore struct {
	// Nil: it only supplies the usage and quota methods, which these tests
	// never call.
	store.Store
	mu        sync.Mutex
	consumers map[string]store.Consumer
	keys      []store.APIKey
	changes   []store.Change
	seq       int64

	lookups     atomic.Int64
	changeReads atomic.Int64
	down        atomic.Bool
	// gate, when set, holds every LookupKey until it is closed.
	gate chan struct{}
	// lookupHook, when set, answers LookupKey instead of the data.
	lookupHook func(hash []byte) (store.APIKey, store.Consumer, error)
}

var _ store.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{consumers: map[string]store.Consumer{}}
}

func (m *memStore) record(c store.Change) {
	m.seq++
	c.Seq = m.seq
	m.changes = append(m.changes, c)
}

func (m *memStore) CreateConsumer(_ context.Context, c store.Consumer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.consumers[c.ID]; ok {
		return store.ErrExists
	}
	if c.Source == "" {
		c.Source = store.SourceAPI
	}
	m.consumers[c.ID] = c
	m.record(store.Change{Kind: kindConsumer, ConsumerID: c.ID})
	return nil
}

// UpdateConsumer is not in store.Store; tests use it to change a plan.
func (m *memStore) UpdateConsumer(c store.Consumer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consumers[c.ID] = c
	m.record(store.Change{Kind: kindConsumer, ConsumerID: c.ID})
}

func (m *memStore) GetConsumer(_ context.Context, id string) (store.Consumer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.consumers[id]
	if !ok {
		return store.Consumer{}, store.ErrNotFound
	}
	return c, nil
}

func (m *memStore) ListConsumers(context.Context) ([]store.Consumer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Consumer
	for _, c := range m.consumers {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b store.Consumer) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memStore) DeleteConsumer(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.consumers[id]
	if !ok {
		return store.ErrNotFound
	}
	if c.Source == store.SourceConfig {
		return store.ErrReadOnly
	}
	delete(m.consumers, id)
	now := time.Now()
	for i := range m.keys {
		if m.keys[i].ConsumerID == id && m.keys[i].RevokedAt == nil {
			m.keys[i].RevokedAt = &now
			m.record(store.Change{Kind: kindKey, KeyHash: m.keys[i].Hash})
		}
	}
	m.record(store.Change{Kind: kindConsumer, ConsumerID: id})
	return nil
}

func (m *memStore) CreateKey(_ context.Context, k store.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.consumers[k.ConsumerID]; !ok {
		return store.ErrNotFound
	}
	for _, o := range m.keys {
		if o.ID == k.ID || bytes.Equal(o.Hash, k.Hash) {
			return store.ErrExists
		}
	}
	k.Hash = slices.Clone(k.Hash)
	m.keys = append(m.keys, k)
	m.record(store.Change{Kind: kindKey, KeyHash: k.Hash})
	return nil
}

func (m *memStore) ListKeys(_ context.Context, consumerID string) ([]store.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.APIKey
	for _, k := range m.keys {
		if k.ConsumerID == consumerID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (m *memStore) RevokeKey(_ context.Context, consumerID, keyID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		k := &m.keys[i]
		if k.ID == keyID && k.ConsumerID == consumerID && k.RevokedAt == nil {
			now := time.Now()
			k.RevokedAt = &now
			m.record(store.Change{Kind: kindKey, KeyHash: k.Hash})
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memStore) LookupKey(ctx context.Context, hash []byte) (store.APIKey, store.Consumer, error) {
	m.lookups.Add(1)
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return store.APIKey{}, store.Consumer{}, ctx.Err()
		}
	}
	if m.down.Load() {
		return store.APIKey{}, store.Consumer{}, errDown
	}
	if m.lookupHook != nil {
		return m.lookupHook(hash)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if bytes.Equal(k.Hash, hash) && k.RevokedAt == nil {
			c, ok := m.consumers[k.ConsumerID]
			if !ok {
				break
			}
			k.Hash = slices.Clone(k.Hash)
			c.Groups = slices.Clone(c.Groups)
			return k, c, nil
		}
	}
	return store.APIKey{}, store.Consumer{}, store.ErrNotFound
}

func (m *memStore) SyncConfig(_ context.Context, consumers []store.Consumer, keys []store.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range consumers {
		c.Source = store.SourceConfig
		m.consumers[c.ID] = c
		m.record(store.Change{Kind: kindConsumer, ConsumerID: c.ID})
	}
	for _, k := range keys {
		k.Source = store.SourceConfig
		m.keys = append(m.keys, k)
		m.record(store.Change{Kind: kindKey, KeyHash: k.Hash})
	}
	return nil
}

func (m *memStore) Changes(_ context.Context, after int64, limit int) ([]store.Change, int64, error) {
	m.changeReads.Add(1)
	if m.down.Load() {
		return nil, 0, errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Change
	for _, c := range m.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, m.seq, nil
}

func (m *memStore) Ping(context.Context) error {
	if m.down.Load() {
		return errDown
	}
	return nil
}

func (m *memStore) Close() error { return nil }
