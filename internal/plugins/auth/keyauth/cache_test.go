package keyauth

import (
	"encoding/binary"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

func TestCacheEpoch(t *testing.T) {
	t.Parallel()
	acme := &pipeline.Consumer{ID: "acme"}
	tests := []struct {
		name       string
		invalidate func(c *cache, h *digest)
		wantStored bool
	}{
		{"nothing happened", func(*cache, *digest) {}, true},
		{"key forgotten meanwhile", func(c *cache, h *digest) { c.forget(h) }, false},
		{"other key forgotten meanwhile", func(c *cache, _ *digest) { c.forget(&digest{9}) }, false},
		{"consumer changed meanwhile", func(c *cache, _ *digest) { c.forgetConsumer("acme") }, false},
		{"cleared meanwhile", func(c *cache, _ *digest) { c.clear() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache()
			h := &digest{1, 2, 3}
			since := c.begin()
			tt.invalidate(c, h)
			c.putPositive(h, &entry{cons: acme}, since)
			if e, _ := c.get(h); (e != nil) != tt.wantStored {
				t.Errorf("entry stored = %v, want %v", e != nil, tt.wantStored)
			}
		})
	}
}

func TestCacheForgetConsumer(t *testing.T) {
	t.Parallel()
	c := newCache()
	acme, globex := &pipeline.Consumer{ID: "acme"}, &pipeline.Consumer{ID: "globex"}
	var hs []digest
	for i := range 300 {
		var h digest
		binary.BigEndian.PutUint32(h[:], uint32(i*7919))
		h[0] = byte(i)
		hs = append(hs, h)
		cons := acme
		if i%3 == 0 {
			cons = globex
		}
		c.putPositive(&h, &entry{cons: cons}, c.begin())
	}
	c.forgetConsumer("acme")
	for i := range hs {
		e, _ := c.get(&hs[i])
		if want := i%3 == 0; (e != nil) != want {
			t.Fatalf("key %d cached = %v, want %v", i, e != nil, want)
		}
	}
}

func TestCacheNegativeBound(t *testing.T) {
	t.Parallel()
	c := newCache()
	// Every digest starting with 0 lands in one shard.
	for i := range 3 * maxNegativePerShard {
		var h digest
		binary.BigEndian.PutUint32(h[1:], uint32(i))
		c.putNegative(&h, 100, c.begin())
	}
	if _, neg := c.len(); neg != maxNegativePerShard {
		t.Errorf("%d negative entries in one shard, want the bound %d", neg, maxNegativePerShard)
	}
	// An existing entry may still be renewed at the bound.
	var h digest
	c.putNegative(&h, 500, c.begin())
	if _, until := c.get(&h); until != 500 {
		t.Errorf("renewed negative entry expires at %d, want 500", until)
	}
	c.sweep(200)
	if _, neg := c.len(); neg != 1 {
		t.Errorf("%d negative entries after sweep, want 1", neg)
	}
}
