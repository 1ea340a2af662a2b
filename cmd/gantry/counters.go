package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// openCounters opens the rate-limit and quota counters. Counting in
// memory, it restores the quota counters the last process saved, so a
// restart does not hand consumers a fresh allowance.
func openCounters(cfg *config.Config, st store.Store, logger *slog.Logger, m *telemetry.Backends) (counter.Counter, error) {
	ctr, err := counter.Open(cfg.Counters, counter.Hooks{Logger: logger, OnStateChange: m.CountersUp, OnError: m.CounterError})
	if err != nil {
		return nil, fmt.Errorf("counters: %w", err)
	}
	if mem, ok := ctr.(*counter.Memory); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		qs, err := st.LoadQuotaCounts(ctx, time.Now())
		if err != nil {
			ctr.Close()
			return nil, fmt.Errorf("restoring quota counters: %w", err)
		}
		mem.RestoreQuotas(qs)
	}
	return ctr, nil
}

// closeCounters saves in-memory quota counters and closes the counters.
func closeCounters(ctx context.Context, ctr counter.Counter, st store.Store, logger *slog.Logger) {
	if mem, ok := ctr.(*counter.Memory); ok {
		if err := st.SaveQuotaCounts(ctx, mem.QuotaCounts()); err != nil {
			logger.Error("quota counters not saved; a restart resets them", "error", err)
		}
	}
	ctr.Close()
}
