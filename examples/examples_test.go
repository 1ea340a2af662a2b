package examples_test

import (
	"testing"

	"github.com/gantry-dev/gantry/examples"
	"github.com/gantry-dev/gantry/internal/config"
)

func TestExamplesParse(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		env  map[string]string
	}{
		// The quickstart must need no environment: `gantry demo` runs it as is.
		{"quickstart.yaml", examples.Quickstart, nil},
		{"full.yaml", examples.Full, map[string]string{
			"GANTRY_ADMIN_TOKEN": "s3cret-admin-token",
			"ACME_SECOND_KEY":    "acme-live-7f2c9a",
			"OPENAI_API_KEY":     "sk-test",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := config.Parse(tt.data, tt.name)
			if err != nil {
				t.Fatalf("config.Parse(%s):\n%v", tt.name, err)
			}
			if len(cfg.Routes) == 0 || len(cfg.Upstreams) == 0 {
				t.Errorf("config.Parse(%s) found %d routes and %d upstreams", tt.name, len(cfg.Routes), len(cfg.Upstreams))
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	if len(examples.Quickstart) == 0 || len(examples.Full) == 0 {
		t.Fatalf("embedded files are empty: quickstart %d bytes, full %d bytes", len(examples.Quickstart), len(examples.Full))
	}
}
