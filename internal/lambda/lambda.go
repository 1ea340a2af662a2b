package lambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// MaxPayload is Lambda's own cap on a synchronous invocation's request and
// response payloads; a larger request body is refused with 413 before the
// function is invoked.
const MaxPayload = 6 << 20

// Options carries what every lambda handler of a server shares.
type Options struct {
	// TrustedProxies are the peers whose X-Forwarded-For is kept.
	TrustedProxies []netip.Prefix
	// Transport sends the invocations; nil uses a private one.
	Transport http.RoundTripper
	// Logger receives function errors at warn level.
	Logger *slog.Logger
	// Env looks up the credentials; nil means os.Getenv.
	Env func(string) string
	// Now is the signing clock; nil means time.Now.
	Now func() time.Time
	// Metrics, when set, counts the invocations in
	// gantry_upstream_requests_total, the function as the target.
	Metrics *telemetry.Metrics
}

type handler struct {
	upstream string
	function string
	region   string
	url      string
	timeout  time.Duration
	rt       http.RoundTripper
	creds    *aws.Credentials
	signer   *v4.Signer
	trusted  []netip.Prefix
	reqRules *forward.Rules
	resRules *forward.Rules
	log      *slog.Logger
	now      func() time.Time
	// rest sends payload format 1.0 events, with resource as the route's
	// path pattern.
	rest     bool
	resource string
	// calls counts invocations by the status the invoke API or the
	// function answered (0: none); nil without metrics.
	calls *telemetry.TargetMetrics
}

var _ pipeline.Handler = (*handler)(nil)

// New returns the terminal handler of route rt, whose upstream (named
// name) is the function up.Lambda.
func New(name string, up *config.Upstream, rt *config.Route, opts Options) (pipeline.Handler, error) {
	if up == nil || up.Lambda == nil {
		return nil, errors.New("lambda: upstream without a function")
	}
	l := up.Lambda
	h := &handler{
		upstream: name, function: l.Function, region: l.Region, trusted: opts.TrustedProxies,
		rt: opts.Transport, log: opts.Logger, now: opts.Now,
		timeout: up.Timeouts.Response.D(),
	}
	if h.timeout <= 0 {
		h.timeout = proxy.DefaultResponseTimeout
	}
	if h.rt == nil {
		h.rt = proxy.NewTransports().Get(up.Timeouts.Connect.D(), 0)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if opts.Metrics != nil {
		h.calls = opts.Metrics.Target(name, l.Function)
	}
	if l.PayloadFormat == "1.0" {
		h.rest, h.resource = true, "/{proxy+}"
		if rt != nil && rt.Match.Path != "" {
			h.resource = rt.Match.Path
		} else if rt != nil && rt.Match.PathPrefix != "" {
			h.resource = strings.TrimSuffix(rt.Match.PathPrefix, "/") + "/{proxy+}"
		}
	}
	endpoint := strings.TrimSuffix(l.Endpoint, "/")
	if endpoint == "" {
		endpoint = "https://lambda." + l.Region + ".amazonaws.com"
	}
	h.url = endpoint + "/2015-03-31/functions/" + url.PathEscape(l.Function) + "/invocations"

	env := opts.Env
	if env == nil {
		env = os.Getenv
	}
	if err := Check(l, env); err != nil {
		return nil, err
	}
	if id, secret := env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		h.creds = &aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: env("AWS_SESSION_TOKEN"), Source: "environment"}
		h.signer = v4.NewSigner()
	}
	if rt != nil {
		var err error
		if h.reqRules, err = forward.CompileRules(rt.RequestHeaders, true); err != nil {
			return nil, fmt.Errorf("request_headers: %w", err)
		}
		if h.resRules, err = forward.CompileRules(rt.ResponseHeaders, false); err != nil {
			return nil, fmt.Errorf("response_headers: %w", err)
		}
	}
	return h, nil
}

// Check reports whether function l can be invoked with the environment
// env (os.Getenv when nil): it needs AWS credentials unless it has an
// endpoint, whose invocations may go unsigned.
func Check(l *config.Lambda, env func(string) string) error {
	if env == nil {
		env = os.Getenv
	}
	if l.Endpoint != "" || (env("AWS_ACCESS_KEY_ID") != "" && env("AWS_SECRET_ACCESS_KEY") != "") {
		return nil
	}
	return errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the gateway's environment (an endpoint such as a local emulator may go unsigned)")
}

// ServeHTTP invokes the function for r and writes its answer.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := pipeline.ExchangeOf(r)
	if x == nil {
		return pipeline.Errorf(http.StatusInternalServerError, pipeline.CodeInternal, "request reached the lambda handler without an exchange")
	}
	x.Upstream, x.Target, x.Attempts = h.upstream, h.function, 1
	// The invocation's span, when the request's records: the event's
	// trace context names it as parent.
	ctx, sp := h.startSpan(r)
	if sp == nil {
		return h.serve(w, r, x)
	}
	err := h.serve(w, r.WithContext(ctx), x)
	endSpan(sp, err)
	return err
}

// serve builds the event of r, invokes the function and writes its answer.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	event, err := h.event(r, x, body)
	if err != nil {
		return pipeline.Errorf(http.StatusInternalServerError, pipeline.CodeInternal, "building the function's event: %v", err)
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	start := time.Now()
	res, err := h.invoke(ctx, event)
	if err != nil {
		h.failed(r, err)
		return failure(r, err)
	}
	defer res.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(res.Body, MaxPayload+1))
	if err != nil {
		h.failed(r, err)
		return failure(r, err)
	}
	h.count(res, payload, time.Since(start))
	switch {
	case res.StatusCode == http.StatusTooManyRequests:
		return fail(http.StatusServiceUnavailable, "lambda function throttled", fmt.Errorf("invoke answered 429: %s", clip(payload)))
	case res.StatusCode != http.StatusOK:
		return fail(http.StatusBadGateway, "lambda invoke failed", fmt.Errorf("invoke answered %d: %s", res.StatusCode, clip(payload)))
	case len(payload) > MaxPayload:
		return fail(http.StatusBadGateway, "lambda function answer too large", fmt.Errorf("answer over %d bytes", MaxPayload))
	case res.Header.Get("X-Amz-Function-Error") != "":
		h.log.Warn("lambda function failed", "upstream", h.upstream, "function", h.function,
			"request_id", x.ID, "error_type", res.Header.Get("X-Amz-Function-Error"), "payload", string(clip(payload)))
		return fail(http.StatusBadGateway, "lambda function failed", errors.New("function error: "+res.Header.Get("X-Amz-Function-Error")))
	}
	ans, err := parseAnswer(payload)
	if err != nil {
		return fail(http.StatusBadGateway, "lambda function answered "+err.Error(), err)
	}
	return h.write(w, ans)
}

// invoke sends the event to the invoke API, signed when there are
// credentials.
func (h *handler) invoke(ctx context.Context, event []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["X-Amz-Invocation-Type"] = []string{"RequestResponse"}
	if h.signer != nil {
		sum := sha256.Sum256(event)
		if err := h.signer.SignHTTP(ctx, *h.creds, req, hex.EncodeToString(sum[:]), "lambda", h.region, h.now()); err != nil {
			return nil, err
		}
	}
	return h.rt.RoundTrip(req)
}

// count records one invocation in the upstream metrics: the invoke API's
// status, unless the function itself failed (X-Amz-Function-Error), which
// the invoke API answers 200: then "function_error", or "timeout" when the
// function ran out of time. A function's own statusCode is the client's
// answer, counted in the request metrics.
func (h *handler) count(res *http.Response, payload []byte, d time.Duration) {
	if h.calls == nil {
		return
	}
	h.calls.ObserveDuration(d)
	switch {
	case res.StatusCode == http.StatusOK && res.Header.Get("X-Amz-Function-Error") != "":
		if functionTimedOut(payload) {
			h.calls.Failed(telemetry.FailureTimeout)
		} else {
			h.calls.Failed(telemetry.FailureFunction)
		}
	default:
		h.calls.Observe(res.StatusCode)
	}
}

// failed records an invocation that got no answer, unless the client went
// away first: that says nothing about the function.
func (h *handler) failed(r *http.Request, err error) {
	if h.calls == nil || errors.Is(r.Context().Err(), context.Canceled) {
		return
	}
	h.calls.Failed(forward.Cause(err).Label())
}

// functionTimedOut reports whether a function error payload says the
// function hit its own timeout: Lambda answers {"errorType":
// "Sandbox.Timedout", "errorMessage": "... Task timed out after 3.00
// seconds"}.
func functionTimedOut(payload []byte) bool {
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &e) != nil {
		return false
	}
	return e.ErrorType == "Sandbox.Timedout" || strings.Contains(e.ErrorMessage, "Task timed out")
}

// readBody reads the client's body, at most MaxPayload bytes; a failure
// to read it is answered as the proxy answers it.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > MaxPayload {
		return nil, tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	switch {
	case err != nil:
		return nil, forward.BodyError(r, err)
	case len(b) > MaxPayload:
		return nil, tooLarge()
	}
	return b, nil
}

func tooLarge() *pipeline.HTTPError {
	return &pipeline.HTTPError{Status: http.StatusRequestEntityTooLarge, Code: pipeline.CodeBodyTooLarge,
		Message: fmt.Sprintf("request body is larger than the %d bytes a function can take", MaxPayload), Close: true}
}

// failure answers a failed invocation as the proxy classifies upstream
// failures: the client gone (499), the response timeout (504), anything
// else (502).
func failure(r *http.Request, err error) error {
	return forward.Classify(err, errors.Is(r.Context().Err(), context.Canceled), false)
}

func fail(status int, msg string, err error) error {
	return &pipeline.HTTPError{Status: status, Code: pipeline.CodeFor(status), Message: msg, Err: err}
}

// clip bounds what a log line quotes of an answer.
func clip(b []byte) []byte {
	if len(b) > 512 {
		return b[:512]
	}
	return b
}
