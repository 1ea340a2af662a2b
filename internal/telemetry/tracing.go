package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the gateway's spans.
const TracerName = "github.com/gantry-dev/gantry"

// Tracing is the process's OpenTelemetry tracing: a tracer provider whose
// spans a batch processor exports over OTLP from its own goroutine, and
// the propagators that read and write trace context. A nil *Tracing is
// tracing off: no spans, no trace context of the gateway's own. It is safe
// for concurrent use.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	// Endpoint and Protocol describe the exporter, for the start log.
	Endpoint string
	Protocol string
}

// TracingOptions are what NewTracing builds from.
type TracingOptions struct {
	// Config is telemetry.tracing; nil reads the OTEL_* environment.
	Config *config.Tracing
	// Version is the gateway's version, the service.version attribute.
	Version string
	// Logger receives export failures at warn level.
	Logger *slog.Logger
	// Getenv reads the environment; nil is os.Getenv.
	Getenv func(string) string
}

// NewTracing returns the tracing o asks for, or nil (and no error) when
// tracing is off: exporter none, or, without a telemetry.tracing section,
// none of OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// and OTEL_TRACES_EXPORTER=otlp set (or OTEL_SDK_DISABLED=true). It
// connects to nothing: the exporters dial when they first export.
//
// It sets the otel package's global propagator and error handler, which
// the gateway's injection points and the SDK use.
func NewTracing(ctx context.Context, o TracingOptions) (*Tracing, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Tracing{}
	var (
		exp     sdktrace.SpanExporter
		sampler sdktrace.Sampler
		names   []string
		service = "gantry"
		err     error
	)
	if c := o.Config; c != nil {
		if !c.Enabled() {
			return nil, nil
		}
		if exp, err = t.configExporter(ctx, c); err != nil {
			return nil, err
		}
		sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.Ratio()))
		names = c.Propagators
		if c.ServiceName != "" {
			service = c.ServiceName
		}
	} else {
		if exp, err = t.envExporter(ctx, getenv); exp == nil || err != nil {
			return nil, err
		}
		// No sampler: the SDK reads OTEL_TRACES_SAMPLER and
		// OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on).
		if v := getenv("OTEL_PROPAGATORS"); v != "" {
			for _, n := range strings.Split(v, ",") {
				names = append(names, strings.TrimSpace(n))
			}
		}
	}
	if len(names) == 0 {
		names = []string{"tracecontext", "baggage"}
	}
	if t.prop, err = propagators(names); err != nil {
		_ = exp.Shutdown(ctx)
		return nil, err
	}
	// Later sources win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// over the default name, the configured service_name over both.
	attrs := []attribute.KeyValue{attribute.String("service.name", service)}
	if o.Version != "" {
		attrs = append(attrs, attribute.String("service.version", o.Version))
	}
	ropts := []resource.Option{resource.WithTelemetrySDK(), resource.WithAttributes(attrs...), resource.WithFromEnv()}
	if o.Config != nil && o.Config.ServiceName != "" {
		ropts = append(ropts, resource.WithAttributes(attribute.String("service.name", o.Config.ServiceName)))
	}
	res, err := resource.New(ctx, ropts...)
	if err != nil && res == nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	popts := []sdktrace.TracerProviderOption{
		// The batch processor exports from its own goroutine; a full
		// queue drops spans rather than wait (OTEL_BSP_* tune it).
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	}
	if sampler != nil {
		popts = append(popts, sdktrace.WithSampler(sampler))
	}
	t.provider = sdktrace.NewTracerProvider(popts...)
	t.tracer = t.provider.Tracer(TracerName)
	otel.SetTextMapPropagator(t.prop)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: export failed", "error", err)
	}))
	return t, nil
}

// configExporter builds the exporter telemetry.tracing names.
func (t *Tracing) configExporter(ctx context.Context, c *config.Tracing) (sdktrace.SpanExporter, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("telemetry.tracing.endpoint: %w", err)
	}
	t.Endpoint = c.Endpoint
	switch u.Scheme {
	case "grpc", "grpcs":
		t.Protocol = "grpc"
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host)}
		if u.Scheme == "grpc" {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if len(c.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(c.Headers))
		}
		return otlptracegrpc.New(ctx, opts...)
	default:
		t.Protocol = "http/protobuf"
		path := u.Path
		if path == "" || path == "/" {
			path = "/v1/traces"
		}
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithURLPath(path)}
		if u.Scheme == "http" {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		if len(c.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(c.Headers))
		}
		return otlptracehttp.New(ctx, opts...)
	}
}

// envExporter builds the exporter the OTEL_* environment asks for, or
// returns nil when it asks for none.
func (t *Tracing) envExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "", "otlp":
		if e == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
	case "none":
		return nil, nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: the gateway exports otlp or none", e)
	}
	t.Endpoint = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if t.Endpoint == "" {
		t.Endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	// The exporters read the endpoint, headers, TLS and timeout from the
	// same environment.
	switch proto {
	case "grpc":
		t.Protocol = proto
		return otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		t.Protocol = "http/protobuf"
		return otlptracehttp.New(ctx)
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: want grpc or http/protobuf", proto)
}

// propagators builds the composite propagator of names.
func propagators(names []string) (propagation.TextMapPropagator, error) {
	var ps []propagation.TextMapPropagator
	for _, n := range names {
		switch n {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		case "b3":
			ps = append(ps, b3.New(b3.WithInjectEncoding(b3.B3SingleHeader)))
		case "b3multi":
			ps = append(ps, b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)))
		case "none":
		default:
			return nil, fmt.Errorf("unknown propagator %q: want tracecontext, baggage, b3 or b3multi", n)
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}

// StartServer extracts the trace context r carries and starts the
// request's server span, a child of it. The span is named after the
// method until the route is known (see EndServer).
func (t *Tracing) StartServer(r *http.Request) (context.Context, trace.Span) {
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, sp := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	if sp.IsRecording() {
		sp.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("server.address", r.Host),
			attribute.String("network.protocol.version", protoVersion(r)),
		)
	}
	return ctx, sp
}

func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMinor == 0:
		return "1.0"
	}
	return "1.1"
}

// EndServer ends a server span with what the finished request x came to:
// its route (none when none matched), consumer, client address, status and
// failure.
func EndServer(sp trace.Span, method string, x *pipeline.Exchange) {
	if sp.IsRecording() {
		route, status, err := x.RouteName, x.Status, x.Err
		sp.SetAttributes(attribute.String("client.address", x.ClientIP))
		var consumer string
		if x.Consumer != nil {
			consumer = x.Consumer.ID
		}
		if x.Upstream != "" {
			sp.SetAttributes(attribute.String("gantry.upstream", x.Upstream), attribute.Int("gantry.attempts", x.Attempts))
		}
		if route != "" {
			sp.SetName(method + " " + route)
			sp.SetAttributes(attribute.String("http.route", route), attribute.String("gantry.route", route))
		}
		if consumer != "" {
			sp.SetAttributes(attribute.String("gantry.consumer", consumer))
		}
		sp.SetAttributes(attribute.Int("http.response.status_code", status))
		// Semantic conventions: a server span is an error for 5xx only.
		if status >= 500 {
			sp.SetStatus(codes.Error, http.StatusText(status))
			if err != nil {
				sp.SetAttributes(attribute.String("error.type", errorType(err, status)))
			}
		}
	}
	sp.End()
}

// errorType is the error.type attribute of a failure: the gateway's error
// code when it has one, else the status.
func errorType(err error, status int) string {
	if he, ok := errors.AsType[*pipeline.HTTPError](err); ok && he.Code != "" {
		return he.Code
	}
	return fmt.Sprint(status)
}

// Shutdown flushes the spans not yet exported and stops the exporter,
// giving up when ctx ends. A nil t does nothing.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// Child starts a span named name as a child of ctx's span when that span
// records, and returns the context carrying it; otherwise it returns ctx
// and a nil span, having allocated nothing: tracing off, or a request not
// sampled, costs a context lookup. The caller ends a non-nil span.
func Child(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return parent.TracerProvider().Tracer(TracerName).Start(ctx, name, trace.WithSpanKind(kind))
}

// Inject writes the trace context of ctx's span into h (traceparent, and
// tracestate, baggage or B3 as the propagators say), replacing what the
// client sent there, so the upstream sees the gateway's span as parent.
// Without a span (tracing off) it does nothing and h keeps the client's.
func Inject(ctx context.Context, h http.Header) {
	if !Injects(ctx) {
		return
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
}

// Injects reports whether Inject adds anything for ctx: only a valid span
// context is propagated.
func Injects(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}

// EndChild ends sp with err as its status when err is not nil.
func EndChild(sp trace.Span, err error) {
	if err != nil {
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
}

// maxShutdownFlush bounds the flush of the spans left at shutdown.
const maxShutdownFlush = 5 * time.Second

// ShutdownTimeout returns how long the shutdown flush may take when left
// is what remains of the shutdown grace period: left, at most 5s, and 0
// (give up at once) when the grace period is spent.
func ShutdownTimeout(left time.Duration) time.Duration { return max(min(left, maxShutdownFlush), 0) }
