package main

import (
	"log/slog"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// openCache opens the response cache's store; the memory store's size is
// exported as gantry_cache_bytes and gantry_cache_entries.
func openCache(cfg *config.Config, logger *slog.Logger, m *telemetry.Metrics) (*cache.Cache, error) {
	st, err := cache.Open(cfg)
	if err != nil {
		return nil, err
	}
	if mem, ok := st.(*cache.Memory); ok {
		m.CacheStore(func() float64 { return float64(mem.Bytes()) }, func() float64 { return float64(mem.Entries()) })
	}
	return cache.New(cache.Options{Store: st, Logger: logger}), nil
}
