package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name   string
		format string
		level  slog.Level
		json   bool
	}{
		{"json", "json", slog.LevelInfo, true},
		{"default is json", "", slog.LevelInfo, true},
		{"unknown is json", "logfmt", slog.LevelInfo, true},
		{"text", "text", slog.LevelInfo, false},
		{"debug level", "json", slog.LevelDebug, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := NewLogger(&buf, tt.level, tt.format)
			log.Debug("probing", "upstream", "users")
			log.Info("config reloaded", "generation", 3)
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			wantLines := 1
			if tt.level <= slog.LevelDebug {
				wantLines = 2
			}
			if len(lines) != wantLines {
				t.Fatalf("got %d lines, want %d: %q", len(lines), wantLines, buf.String())
			}
			last := lines[len(lines)-1]
			if got := json.Valid([]byte(last)); got != tt.json {
				t.Errorf("json.Valid(%s) = %v, want %v", last, got, tt.json)
			}
			if !strings.Contains(last, "generation") || !strings.Contains(last, "config reloaded") {
				t.Errorf("line %q misses the message or an attribute", last)
			}
		})
	}
}
