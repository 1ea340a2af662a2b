package config

import (
	"math"
	"net/url"
	"slices"
	"strings"
)

// Telemetry configures what the gateway reports about itself beyond its
// logs. Changing it needs a restart.
type Telemetry struct {
	// Tracing, when set, exports OpenTelemetry traces. When it is absent
	// the standard OTEL_* environment variables decide (tracing is on when
	// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
	// set); when it is present its keys win over them (OTEL_BSP_* and
	// the exporter's other OTEL_EXPORTER_OTLP_* settings still apply).
	Tracing *Tracing `yaml:"tracing" json:"tracing,omitempty"`
	// Metrics configures the Prometheus metrics on /metrics.
	Metrics *TelemetryMetrics `yaml:"metrics" json:"metrics,omitempty"`
}

// Tracing configures OpenTelemetry tracing.
type Tracing struct {
	// Exporter is "otlp" or "none" (the default): none makes no spans and
	// injects no trace context of the gateway's own.
	Exporter string `yaml:"exporter" json:"exporter,omitempty"`
	// Endpoint is the collector: http://host:4318 or https://host:4318
	// for OTLP/HTTP (spans go to its /v1/traces unless the URL has a path
	// of its own), grpc://host:4317 for OTLP/gRPC in plain text, grpcs://
	// for OTLP/gRPC over TLS. Required with exporter otlp.
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// SampleRatio is the share of new traces kept, from 0 to 1. Default 1.
	// The decision is parent-based: a request whose traceparent says
	// sampled is always kept, one that says not sampled never is.
	SampleRatio *float64 `yaml:"sample_ratio" json:"sample_ratio,omitempty"`
	// ServiceName is the service.name resource attribute. Default
	// OTEL_SERVICE_NAME, else "gantry".
	ServiceName string `yaml:"service_name" json:"service_name,omitempty"`
	// Headers are sent with every export, for example
	// {Authorization: "Bearer ${OTLP_TOKEN}"}.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Propagators are the trace context formats read from requests and
	// written to upstreams: tracecontext, baggage, b3 (single header),
	// b3multi (X-B3-* headers). Default [tracecontext, baggage].
	Propagators []string `yaml:"propagators" json:"propagators,omitempty"`
}

// TracingPropagators are the values tracing.propagators accepts.
var TracingPropagators = []string{"tracecontext", "baggage", "b3", "b3multi"}

// Ratio returns the sample ratio, 1 when unset.
func (t *Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return 1
	}
	return *t.SampleRatio
}

// Enabled reports whether t exports spans.
func (t *Tracing) Enabled() bool { return t != nil && t.Exporter == "otlp" }

func (c *Config) validateTelemetry(l *problemList) {
	t := c.Telemetry.Tracing
	if t == nil {
		return
	}
	const p = "telemetry.tracing."
	switch t.Exporter {
	case "", "none":
	case "otlp":
		if t.Endpoint == "" {
			l.add(p+"endpoint", "required with exporter otlp: http(s)://host:4318 for OTLP/HTTP or grpc://host:4317 for OTLP/gRPC")
		}
	default:
		l.add(p+"exporter", "unknown exporter %q: want otlp or none", t.Exporter)
	}
	if t.Endpoint != "" && !tracingEndpoint(t.Endpoint) {
		l.add(p+"endpoint", "want http://, https://, grpc:// or grpcs:// and a host (like http://127.0.0.1:4318 or grpc://collector:4317), got %q", t.Endpoint)
	}
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		l.add(p+"sample_ratio", "want a number from 0 to 1, got %v", *r)
	}
	for name, v := range t.Headers {
		if !isToken(name) {
			l.add(p+"headers."+name, "invalid header name %q", name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			l.add(p+"headers."+name, "invalid value (control characters)")
		}
	}
	seen := map[string]bool{}
	for i, name := range t.Propagators {
		if !slices.Contains(TracingPropagators, name) {
			l.add(index(p+"propagators", i), "unknown propagator %q: want %s", name, strings.Join(TracingPropagators, ", "))
		}
		if seen[name] {
			l.add(index(p+"propagators", i), "%q is listed twice", name)
		}
		seen[name] = true
	}
}

// tracingEndpoint reports whether s is a collector URL the exporters take.
func tracingEndpoint(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https":
		return true
	case "grpc", "grpcs":
		return u.Path == "" || u.Path == "/"
	}
	return false
}

// redactTelemetry hides the export headers' values: they carry tokens.
func (c *Config) redactTelemetry() {
	if t := c.Telemetry.Tracing; t != nil {
		for k := range t.Headers {
			t.Headers[k] = redactedText
		}
	}
}
