package server

import (
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
)

// TestTracingNeedsRestart: telemetry.tracing is read at start, so a reload
// that changes it says a restart is required.
func TestTracingNeedsRestart(t *testing.T) {
	const up = "http://127.0.0.1:9"
	s := newServer(t, gatewayConfig(up, catchAll))
	cfg := parseConfig(t, gatewayConfig(up, catchAll))
	if got := s.staticChanges(cfg); slices.Contains(got, "telemetry.tracing") {
		t.Errorf("staticChanges() = %v for the same file", got)
	}
	cfg.Telemetry.Tracing = &config.Tracing{Exporter: "otlp", Endpoint: "http://127.0.0.1:4318"}
	if got := s.staticChanges(cfg); !slices.Contains(got, "telemetry.tracing") {
		t.Errorf("staticChanges() = %v, want telemetry.tracing listed", got)
	}
}
