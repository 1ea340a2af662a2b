package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWithEngine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"version: 1\nserver:\n  listen: a\n", "version: 1\nserver:\n  engine: \"net/http\"\n  listen: a\n"},
		{"server:\n    listen: a\n", "server:\n    engine: \"net/http\"\n    listen: a\n"},
		{"server: {listen: a}\n", "server: {engine: \"net/http\", listen: a}\n"},
		{"server:\n  engine: gantry\n", "server:\n  engine: gantry\n"},
		{"version: 1\n", "version: 1\n\nserver:\n  engine: \"net/http\"\n"},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "g.yaml")
		os.WriteFile(p, []byte(tt.in), 0o600)
		if err := withEngine(p, "net/http"); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if string(got) != tt.want {
			t.Errorf("withEngine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
