package telemetry

import (
	"io"
	"log/slog"
)

// NewLogger returns the process logger writing to w at the given level.
// format "text" selects slog's key=value text; anything else, "json"
// included, selects one JSON object per line, the default because log
// pipelines parse it without rules.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
