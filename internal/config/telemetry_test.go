package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTracing(t *testing.T) {
	t.Parallel()
	ratio := func(f float64) *float64 { return &f }
	tests := []struct {
		name     string
		tracing  *Tracing
		wantPath string // "" means valid
		wantMsg  string
	}{
		{name: "absent", tracing: nil},
		{name: "none", tracing: &Tracing{Exporter: "none"}},
		{name: "otlp http", tracing: &Tracing{Exporter: "otlp", Endpoint: "http://127.0.0.1:4318", SampleRatio: ratio(0.1)}},
		{name: "otlp https with path", tracing: &Tracing{Exporter: "otlp", Endpoint: "https://otel.example.com/custom/v1/traces"}},
		{name: "otlp grpc", tracing: &Tracing{Exporter: "otlp", Endpoint: "grpc://collector:4317", Propagators: []string{"tracecontext", "baggage", "b3"}}},
		{name: "ratio zero", tracing: &Tracing{Exporter: "otlp", Endpoint: "grpcs://collector:4317", SampleRatio: ratio(0)}},
		{name: "unknown exporter", tracing: &Tracing{Exporter: "jaeger"}, wantPath: "telemetry.tracing.exporter", wantMsg: "want otlp or none"},
		{name: "otlp without endpoint", tracing: &Tracing{Exporter: "otlp"}, wantPath: "telemetry.tracing.endpoint", wantMsg: "required with exporter otlp"},
		{name: "endpoint without scheme", tracing: &Tracing{Exporter: "otlp", Endpoint: "127.0.0.1:4318"}, wantPath: "telemetry.tracing.endpoint", wantMsg: "want http://"},
		{name: "grpc endpoint with path", tracing: &Tracing{Exporter: "otlp", Endpoint: "grpc://collector:4317/v1/traces"}, wantPath: "telemetry.tracing.endpoint", wantMsg: "grpc://"},
		{name: "ratio above one", tracing: &Tracing{Exporter: "otlp", Endpoint: "http://c:4318", SampleRatio: ratio(1.5)}, wantPath: "telemetry.tracing.sample_ratio", wantMsg: "from 0 to 1"},
		{name: "ratio negative", tracing: &Tracing{Exporter: "otlp", Endpoint: "http://c:4318", SampleRatio: ratio(-0.1)}, wantPath: "telemetry.tracing.sample_ratio", wantMsg: "from 0 to 1"},
		{name: "bad header name", tracing: &Tracing{Exporter: "otlp", Endpoint: "http://c:4318", Headers: map[string]string{"Bad Name": "x"}}, wantPath: "telemetry.tracing.headers.Bad Name", wantMsg: "invalid header name"},
		{name: "header with newline", tracing: &Tracing{Exporter: "otlp", Endpoint: "http://c:4318", Headers: map[string]string{"Authorization": "a\nb"}}, wantPath: "telemetry.tracing.headers.Authorization", wantMsg: "control characters"},
		{name: "unknown propagator", tracing: &Tracing{Exporter: "otlp", Endpoint: "http://c:4318", Propagators: []string{"xray"}}, wantPath: "telemetry.tracing.propagators[0]", wantMsg: "unknown propagator"},
		{name: "propagator twice", tracing: &Tracing{Exporter: "otlp", Endpoint: "http://c:4318", Propagators: []string{"b3", "b3"}}, wantPath: "telemetry.tracing.propagators[1]", wantMsg: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Telemetry.Tracing = tt.tracing
			c.SetDefaults()
			err := c.Validate()
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Validate() = %v, want Problems", err)
			}
			for _, p := range ps {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("Validate() = %v\nwant a problem at %s containing %q", err, tt.wantPath, tt.wantMsg)
		})
	}
}

func TestParseTracingHeadersFromEnv(t *testing.T) {
	t.Parallel()
	src := `
telemetry:
  tracing:
    exporter: otlp
    endpoint: http://127.0.0.1:4318
    sample_ratio: 0.25
    headers: {Authorization: "Bearer ${OTLP_TOKEN}"}
`
	c, ps := parseProblems(t, src, map[string]string{"OTLP_TOKEN": "s3cret"})
	if ps != nil {
		t.Fatalf("Parse: %v", ps)
	}
	tr := c.Telemetry.Tracing
	if got := tr.Headers["Authorization"]; got != "Bearer s3cret" {
		t.Errorf("headers.Authorization = %q, want %q", got, "Bearer s3cret")
	}
	if got := tr.Ratio(); got != 0.25 {
		t.Errorf("Ratio() = %v, want 0.25", got)
	}
	if got := c.Redacted().Telemetry.Tracing.Headers["Authorization"]; got != redactedText {
		t.Errorf("Redacted headers.Authorization = %q, want %q", got, redactedText)
	}
	if tr.Headers["Authorization"] != "Bearer s3cret" {
		t.Errorf("Redacted changed the original config")
	}
}
