package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
	"github.com/google/go-cmp/cmp"
)

// noAWSCredentials blanks the credentials a developer's shell may export,
// so a test decides whether the gateway signs; empty counts as unset.
var noAWSCredentials = []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN="}

// lambdaEvent is the API Gateway HTTP API (payload 2.0) event the gateway
// sends.
type lambdaEvent struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
	PathParameters        map[string]string `json:"pathParameters"`
	RequestContext        struct {
		AccountID  string `json:"accountId"`
		APIID      string `json:"apiId"`
		DomainName string `json:"domainName"`
		HTTP       struct {
			Method    string `json:"method"`
			Path      string `json:"path"`
			Protocol  string `json:"protocol"`
			SourceIP  string `json:"sourceIp"`
			UserAgent string `json:"userAgent"`
		} `json:"http"`
		RequestID  string `json:"requestId"`
		RouteKey   string `json:"routeKey"`
		Stage      string `json:"stage"`
		TimeEpoch  int64  `json:"timeEpoch"`
		Authorizer *struct {
			Lambda struct {
				ConsumerID string          `json:"consumer_id"`
				Groups     json.RawMessage `json:"groups"`
			} `json:"lambda"`
		} `json:"authorizer"`
	} `json:"requestContext"`
	Body            string `json:"body"`
	IsBase64Encoded bool   `json:"isBase64Encoded"`
}

// invocation is one call the fake Lambda endpoint received.
type invocation struct {
	Function string
	Method   string
	Host     string
	// EscapedPath is the request path as sent.
	EscapedPath string
	Header      http.Header
	Payload     []byte
	Event       lambdaEvent
	// Keys are the event's top-level keys, to tell omitted from empty.
	Keys map[string]json.RawMessage
}

// lambdaAnswer is how the fake endpoint answers an invocation.
type lambdaAnswer struct {
	// status of the invoke API call; 0 means 200.
	status int
	// functionError, when set, is sent as X-Amz-Function-Error.
	functionError string
	payload       string
	// delay holds the answer back (or until the caller gives up).
	delay time.Duration
}

// fakeLambda is a Lambda invoke API on loopback. It answers by the event's
// rawPath, from a map fixed before the gateway starts, so parallel
// subtests need no coordination.
type fakeLambda struct {
	URL     string
	t       *testing.T
	answers map[string]lambdaAnswer
	mu      sync.Mutex
	calls   []invocation
}

var invokePath = regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/invocations$`)

func newFakeLambda(t *testing.T, answers map[string]lambdaAnswer) *fakeLambda {
	t.Helper()
	f := &fakeLambda{t: t, answers: answers}
	f.URL = testkit.Upstream(t, f).URL
	return f
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := invokePath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil {
		f.t.Errorf("invoke request %s %s, want POST /2015-03-31/functions/NAME/invocations", r.Method, r.URL.Path)
		http.Error(w, `{"Type":"User","message":"unknown operation"}`, http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("invoke Content-Type = %q, want application/json", ct)
	}
	if it := r.Header.Get("X-Amz-Invocation-Type"); it != "RequestResponse" {
		f.t.Errorf("invoke X-Amz-Invocation-Type = %q, want RequestResponse", it)
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	inv := invocation{Function: m[1], Method: r.Method, Host: r.Host, EscapedPath: r.URL.EscapedPath(), Header: r.Header.Clone(), Payload: payload}
	if err := json.Unmarshal(payload, &inv.Keys); err != nil {
		f.t.Errorf("invoke payload is not a JSON object: %v: %.200q", err, payload)
		http.Error(w, `{"Type":"User","message":"InvalidRequestContentException"}`, http.StatusBadRequest)
		return
	}
	if err := json.Unmarshal(payload, &inv.Event); err != nil {
		f.t.Errorf("invoke payload is not an HTTP API 2.0 event: %v: %.200q", err, payload)
	}
	f.mu.Lock()
	f.calls = append(f.calls, inv)
	f.mu.Unlock()

	a, ok := f.answers[inv.Event.RawPath]
	if !ok {
		a = lambdaAnswer{payload: `{"statusCode":200,"body":"ok"}`}
	}
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	if a.functionError != "" {
		w.Header().Set("X-Amz-Function-Error", a.functionError)
	}
	w.Header().Set("Content-Type", "application/json")
	if a.status != 0 {
		w.WriteHeader(a.status)
	}
	io.WriteString(w, a.payload)
}

// invocations returns the calls whose event carries x-request-id id.
func (f *fakeLambda) invocations(id string) []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []invocation
	for _, c := range f.calls {
		if c.Event.Headers["x-request-id"] == id {
			out = append(out, c)
		}
	}
	return out
}

// invocation returns the one call made for request id. The gateway answers
// the client only after the invoke returned, so it is recorded by then.
func (f *fakeLambda) invocation(t *testing.T, id string) invocation {
	t.Helper()
	calls := f.invocations(id)
	if len(calls) != 1 {
		t.Fatalf("function invoked %d times for request %q, want once", len(calls), id)
	}
	return calls[0]
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestLambdaResponseMapping(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
	tests := []struct {
		name       string
		answer     lambdaAnswer
		wantStatus int
		// wantHeader values must match exactly (all values of the name).
		wantHeader map[string][]string
		// wantBody is compared when wantError is empty.
		wantBody []byte
		// wantJSON compares the body as JSON to the payload.
		wantJSON  bool
		wantError string
		// wantMessage, when set, is the error body's message.
		wantMessage string
	}{
		{
			name: "proxy result",
			answer: lambdaAnswer{payload: `{"statusCode":201,
				"headers":{"Content-Type":"text/plain; charset=utf-8","X-Order":"o-17","X-Request-ID":"from-function"},
				"multiValueHeaders":{"X-Tag":["red","blue"]},
				"cookies":["session=s1; Path=/; HttpOnly","theme=dark"],
				"body":"created order o-17"}`},
			wantStatus: 201,
			wantHeader: map[string][]string{
				"Content-Type":    {"text/plain; charset=utf-8"},
				"X-Order":         {"o-17"},
				"X-Tag":           {"red", "blue"},
				"Set-Cookie":      {"session=s1; Path=/; HttpOnly", "theme=dark"},
				"X-Frame-Options": {"DENY"},
				// The gateway's own header wins over the function's.
				"X-Request-ID": {"map-proxy-result"},
			},
			wantBody: []byte("created order o-17"),
		},
		{
			name: "base64 body",
			answer: lambdaAnswer{payload: fmt.Sprintf(`{"statusCode":200,"headers":{"Content-Type":"image/png"},"body":%q,"isBase64Encoded":true}`,
				base64.StdEncoding.EncodeToString(png))},
			wantStatus: 200,
			wantHeader: map[string][]string{"Content-Type": {"image/png"}},
			wantBody:   png,
		},
		{
			name:       "no body",
			answer:     lambdaAnswer{payload: `{"statusCode":204,"headers":{"X-Deleted":"yes"}}`},
			wantStatus: 204,
			wantHeader: map[string][]string{"X-Deleted": {"yes"}},
			wantBody:   []byte{},
		},
		{
			// Framing is the gateway's: a function's Content-Length or
			// hop-by-hop headers must not corrupt the response.
			name: "framing headers",
			answer: lambdaAnswer{payload: `{"statusCode":200,
				"headers":{"Content-Length":"999","Transfer-Encoding":"chunked","Connection":"close","X-Kept":"1"},
				"body":"abc"}`},
			wantStatus: 200,
			wantHeader: map[string][]string{"X-Kept": {"1"}},
			wantBody:   []byte("abc"),
		},
		{
			// The route's units_header is the gateway's to read, not the
			// client's.
			name:       "units header",
			answer:     lambdaAnswer{payload: `{"statusCode":200,"headers":{"X-Units":"3","X-Other":"kept"},"body":"billed"}`},
			wantStatus: 200,
			wantHeader: map[string][]string{"X-Units": nil, "X-Other": {"kept"}},
			wantBody:   []byte("billed"),
		},
		{
			name:       "plain object",
			answer:     lambdaAnswer{payload: `{"id":7,"items":["a","b"],"total":12.5}`},
			wantStatus: 200,
			wantHeader: map[string][]string{"Content-Type": {"application/json"}},
			wantJSON:   true,
		},
		{
			name:       "plain array",
			answer:     lambdaAnswer{payload: `[1,2,3]`},
			wantStatus: 200,
			wantHeader: map[string][]string{"Content-Type": {"application/json"}},
			wantJSON:   true,
		},
		{
			name:       "plain string",
			answer:     lambdaAnswer{payload: `"thumbnail queued"`},
			wantStatus: 200,
			wantHeader: map[string][]string{"Content-Type": {"application/json"}},
			wantJSON:   true,
		},
		{
			name: "function error",
			answer: lambdaAnswer{functionError: "Unhandled",
				payload: `{"errorMessage":"connect db-internal.corp:5432 refused","errorType":"Error","stackTrace":["handler.js:12"]}`},
			wantStatus:  502,
			wantError:   "bad_gateway",
			wantMessage: "lambda function failed",
		},
		{
			name:        "throttled",
			answer:      lambdaAnswer{status: 429, payload: `{"Type":"User","message":"Rate Exceeded."}`},
			wantStatus:  503,
			wantError:   "no_healthy_upstream",
			wantMessage: "lambda function throttled",
		},
		{
			name:       "invoke server error",
			answer:     lambdaAnswer{status: 500, payload: `{"Type":"Service","message":"ServiceException"}`},
			wantStatus: 502,
			wantError:  "bad_gateway",
		},
		{
			name:       "function not found",
			answer:     lambdaAnswer{status: 404, payload: `{"Type":"User","message":"Function not found"}`},
			wantStatus: 502,
			wantError:  "bad_gateway",
		},
		{
			name:       "payload not JSON",
			answer:     lambdaAnswer{payload: `<html>oops`},
			wantStatus: 502,
			wantError:  "bad_gateway",
		},
		{
			name:       "status above range",
			answer:     lambdaAnswer{payload: `{"statusCode":700,"body":"x"}`},
			wantStatus: 502,
			wantError:  "bad_gateway",
		},
		{
			name:       "status below range",
			answer:     lambdaAnswer{payload: `{"statusCode":42,"body":"x"}`},
			wantStatus: 502,
			wantError:  "bad_gateway",
		},
		{
			name:       "base64 body invalid",
			answer:     lambdaAnswer{payload: `{"statusCode":200,"body":"not base64!","isBase64Encoded":true}`},
			wantStatus: 502,
			wantError:  "bad_gateway",
		},
	}
	slug := func(name string) string { return strings.ReplaceAll(name, " ", "-") }
	answers := map[string]lambdaAnswer{"/slow": {delay: 5 * time.Second, payload: `{}`}}
	for _, tt := range tests {
		answers["/fn/"+slug(tt.name)] = tt.answer
	}
	f := newFakeLambda(t, answers)
	const function = "arn:aws:lambda:us-east-1:123456789012:function:shop-api"
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  fn: {lambda: {function: %q, region: us-east-1, endpoint: %q}}
  slowfn:
    lambda: {function: slow-api, region: us-east-1, endpoint: %q}
    timeouts: {response: 300ms}
  downfn: {lambda: {function: down-api, region: us-east-1, endpoint: "http://%s"}}
routes:
  - name: fn
    match: {path_prefix: /fn/}
    upstream: fn
    response_headers: {set: {X-Frame-Options: DENY}}
    units_header: X-Units
  - name: slow
    match: {path: /slow}
    upstream: slowfn
  - name: down
    match: {path: /down}
    upstream: downfn
`, function, f.URL, f.URL, closedPort(t))), noAWSCredentials...)

	t.Run("answers", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				id := "map-" + slug(tt.name)
				r := get(t, g.URL+"/fn/"+slug(tt.name), "X-Request-ID: "+id)
				if r.Status != tt.wantStatus {
					t.Fatalf("status = %d, want %d (body %q)", r.Status, tt.wantStatus, r.Body)
				}
				inv := f.invocation(t, id) // exactly once: no retries
				if inv.Function != function {
					t.Errorf("invoked function %q, want %q", inv.Function, function)
				}
				for name, want := range tt.wantHeader {
					if got := r.Header.Values(name); !slices.Equal(got, want) {
						t.Errorf("header %s = %q, want %q", name, got, want)
					}
				}
				if tt.wantError != "" {
					e := r.gwError(t)
					if e.Error != tt.wantError || e.RequestID != id {
						t.Errorf("error %q request_id %q, want %q and %q", e.Error, e.RequestID, tt.wantError, id)
					}
					if tt.wantMessage != "" && e.Message != tt.wantMessage {
						t.Errorf("error message %q, want %q", e.Message, tt.wantMessage)
					}
					for _, secret := range []string{"db-internal", "stackTrace", "handler.js", "Rate Exceeded", "ServiceException"} {
						if bytes.Contains(r.Body, []byte(secret)) {
							t.Errorf("error body leaks the function's answer (%q): %s", secret, r.Body)
						}
					}
					return
				}
				if tt.wantJSON {
					var got, want any
					if err := json.Unmarshal(r.Body, &got); err != nil {
						t.Fatalf("body %q is not JSON: %v", r.Body, err)
					}
					json.Unmarshal([]byte(tt.answer.payload), &want)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("body differs from the payload (-want +got):\n%s", diff)
					}
					return
				}
				if !bytes.Equal(r.Body, tt.wantBody) {
					t.Errorf("body = %q, want %q", r.Body, tt.wantBody)
				}
			})
		}
	})

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		r := get(t, g.URL+"/slow", "X-Request-ID: map-slow")
		if r.Status != 504 || r.gwError(t).Error != "upstream_timeout" {
			t.Fatalf("slow function: %d %s, want 504 upstream_timeout", r.Status, r.Body)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("504 took %v for a 300ms response timeout", d)
		}
		if n := len(f.invocations("map-slow")); n != 1 {
			t.Fatalf("slow function invoked %d times, want once (no retries)", n)
		}
	})

	t.Run("endpoint down", func(t *testing.T) {
		r := get(t, g.URL+"/down")
		if r.Status != 502 || r.gwError(t).Error != "bad_gateway" {
			t.Fatalf("refused connection: %d %s, want 502 bad_gateway", r.Status, r.Body)
		}
	})

	// Each invocation counts as one attempt on the function, whatever
	// status label it is filed under.
	t.Run("metrics", func(t *testing.T) {
		status, body := g.Admin("GET", "/metrics", "")
		if status != 200 {
			t.Fatalf("/metrics = %d", status)
		}
		var sum float64
		labels := fmt.Sprintf(`target=%q,upstream="fn"}`, function)
		for _, l := range strings.Split(string(body), "\n") {
			if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(f[0], "gantry_upstream_requests_total{") && strings.HasSuffix(f[0], labels) {
				n, _ := strconv.ParseFloat(f[1], 64)
				sum += n
			}
		}
		if want := float64(len(tests)); sum != want {
			t.Errorf("gantry_upstream_requests_total{...%s sums to %v, want %v (one per invocation)", labels, sum, want)
		}
	})

	t.Run("access log", func(t *testing.T) {
		deadline := time.Now().Add(3 * time.Second)
		var line string
		for {
			for _, l := range strings.Split(g.Stdout(), "\n") {
				if strings.Contains(l, `"request_id":"map-proxy-result"`) {
					line = l
				}
			}
			if line != "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, want := range []string{`"route":"fn"`, `"status":201`, `"upstream":"fn"`, `"target":"` + function + `"`} {
			if !strings.Contains(line, want) {
				t.Errorf("access log line lacks %s:\n%s", want, line)
			}
		}
	})
}

// TestLambdaRateLimited: a rate-limited function route answers with the
// gateway's RateLimit-* fields only, whatever the function sets, and its
// 429 never invokes the function.
func TestLambdaRateLimited(t *testing.T) {
	t.Parallel()
	f := newFakeLambda(t, map[string]lambdaAnswer{"/limited": {payload: `{"statusCode":200,
		"headers":{"RateLimit-Limit":"1000","RateLimit-Remaining":"999","RateLimit-Reset":"1","Connection":"X-Hop","X-Hop":"h"},"body":"ok"}`}})
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  fn: {lambda: {function: shop-api, region: us-east-1, endpoint: %q}}
routes:
  - name: limited
    match: {path: /limited}
    upstream: fn
    rate_limit: {requests: 2, per: 1m}
`, f.URL)), noAWSCredentials...)
	for i, want := range []struct {
		status    int
		remaining string
	}{{200, "1"}, {200, "0"}, {429, "0"}} {
		id := fmt.Sprintf("limited-%d", i)
		r := get(t, g.URL+"/limited", "X-Request-ID: "+id)
		if r.Status != want.status {
			t.Fatalf("request %d: %d %s, want %d", i, r.Status, r.Body, want.status)
		}
		for name, v := range map[string]string{"RateLimit-Limit": "2", "RateLimit-Remaining": want.remaining} {
			if got := r.Header.Values(name); len(got) != 1 || got[0] != v {
				t.Errorf("request %d: %s = %q, want the gateway's %q only", i, name, got, v)
			}
		}
		if got := r.Header.Values("X-Hop"); len(got) != 0 {
			t.Errorf("request %d: X-Hop = %q, a header the function named in Connection", i, got)
		}
		if n, wantN := len(f.invocations(id)), map[bool]int{true: 1, false: 0}[want.status == 200]; n != wantN {
			t.Errorf("request %d: function invoked %d times, want %d", i, n, wantN)
		}
	}
}
