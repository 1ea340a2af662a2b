package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/telemetry"
	metering "github.com/gantry-dev/gantry/internal/usage"
	"github.com/gantry-dev/gantry/internal/usage/export"
)

// startExport starts streaming final usage buckets to usage.export.url,
// when set. It returns the meter's OnFinal hook and the exporter (nil
// without export); Run stops with ctx.
func startExport(ctx context.Context, cfg *config.Config, logger *slog.Logger, m *telemetry.Backends) (*export.Exporter, func([]metering.Bucket), error) {
	x := cfg.Usage.Export
	if x == nil {
		return nil, nil, nil
	}
	exp, err := export.New(export.Options{
		URL:           x.URL,
		BatchSize:     x.BatchSize,
		SpoolDir:      x.SpoolDir, // relative to the config file (config.Load)
		MaxSpoolBytes: int64(x.SpoolMaxBytes),
		Timeout:       x.Timeout.D(),
		Token:         x.Token,
		Logger:        logger,
		OnSent:        func(n int) { m.Exported("sent", n) },
		OnDropped:     func(n int) { m.Exported("dropped", n) },
		OnRejected:    func(n int) { m.Exported("rejected", n) },
		OnFailed:      func(error) { m.ExportFailed() },
	})
	if err != nil {
		return nil, nil, fmt.Errorf("usage.export: %w", err)
	}
	go exp.Run(ctx)
	onFinal := func(bs []metering.Bucket) {
		evs := make([]export.Event, len(bs))
		for i := range bs {
			b := &bs[i]
			evs[i] = export.NewEvent(export.Bucket{
				ID: b.ID(), Node: b.NodeID, Consumer: b.Consumer, Route: b.Route, Version: b.Version, Model: b.Model,
				Start: b.Bucket, End: b.Bucket.Add(time.Minute),
				Counts: export.Counts{
					Requests: b.Requests, Admitted: b.Admitted, Billable: b.Billable, Units: b.Units,
					Errors: b.Errors, BytesIn: b.BytesIn, BytesOut: b.BytesOut,
					WSMessagesIn: b.WSMessagesIn, WSMessagesOut: b.WSMessagesOut,
					WSSeconds:   float64(b.WSMillis) / 1000,
					InputTokens: b.InputTokens, OutputTokens: b.OutputTokens,
				},
			})
		}
		if err := exp.Enqueue(evs); err != nil {
			logger.Error("usage export: spooling final buckets", "error", err, "buckets", len(evs))
		}
	}
	return exp, onFinal, nil
}
