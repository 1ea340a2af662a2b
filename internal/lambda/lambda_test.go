package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// invokeAPI is a fake Lambda invoke endpoint: it records the last request
// and answers with answer.
type invokeAPI struct {
	srv    *httptest.Server
	got    chan *http.Request
	events chan event
}

func newInvokeAPI(t *testing.T, answer http.HandlerFunc) *invokeAPI {
	t.Helper()
	api := &invokeAPI{got: make(chan *http.Request, 1), events: make(chan event, 1)}
	api.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e event
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &e)
		api.got <- r
		api.events <- e
		answer(w, r)
	}))
	t.Cleanup(api.srv.Close)
	return api
}

func newHandler(t *testing.T, api *invokeAPI, env map[string]string, rt *config.Route) *handler {
	t.Helper()
	up := &config.Upstream{Lambda: &config.Lambda{Function: "thumbnailer", Region: "eu-west-1", Endpoint: api.srv.URL},
		Timeouts: config.Timeouts{Response: config.Duration(2 * time.Second)}}
	h, err := New("thumbs", up, rt, Options{Env: func(k string) string { return env[k] },
		Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return h.(*handler)
}

func serve(t *testing.T, h *handler, r *http.Request, x *pipeline.Exchange) (*httptest.ResponseRecorder, error) {
	t.Helper()
	if x.ID == "" {
		x.ID = "req-1"
	}
	w := httptest.NewRecorder()
	w.Header()["X-Request-Id"] = []string{x.ID}
	err := h.ServeHTTP(w, r.WithContext(pipeline.WithExchange(r.Context(), x)))
	return w, err
}

func answerJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

func TestEventAndSigning(t *testing.T) {
	t.Parallel()
	api := newInvokeAPI(t, answerJSON(`{"statusCode":201,"headers":{"X-Thumb":"ok","X-Request-Id":"fn"},"cookies":["a=1","b=2"],"body":"created"}`))
	rt := &config.Route{RequestHeaders: &config.HeaderRules{Set: map[string]string{"X-Gateway": "gantry"}}}
	h := newHandler(t, api, map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok"}, rt)

	r := httptest.NewRequest("POST", "http://api.example.com/thumbs/7?size=s&size=m&q=a%20b", strings.NewReader("\xff\x00binary"))
	r.Header.Set("Cookie", "sid=1; theme=dark")
	r.Header.Set("User-Agent", "sdk/1")
	r.Header.Set("Connection", "X-Hop")
	r.Header.Set("X-Hop", "dropped")
	x := &pipeline.Exchange{Path: "/7", ClientIP: "192.0.2.1", Params: []pipeline.Param{{Name: "id", Value: "7"}},
		Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}}}
	w, err := serve(t, h, r, x)
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	req, e := <-api.got, <-api.events

	if req.URL.Path != "/2015-03-31/functions/thumbnailer/invocations" || req.Method != "POST" {
		t.Errorf("invoke = %s %s", req.Method, req.URL.Path)
	}
	auth := req.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/lambda/aws4_request") {
		t.Errorf("Authorization = %q, want a SigV4 signature for eu-west-1/lambda", auth)
	}
	if req.Header.Get("X-Amz-Security-Token") != "tok" || req.Header.Get("X-Amz-Invocation-Type") != "RequestResponse" {
		t.Errorf("invoke headers = %v", req.Header)
	}

	if e.Version != "2.0" || e.RawPath != "/7" || e.RawQueryString != "size=s&size=m&q=a%20b" {
		t.Errorf("event = version %q rawPath %q rawQueryString %q", e.Version, e.RawPath, e.RawQueryString)
	}
	if e.QueryStringParameters["size"] != "s,m" || e.QueryStringParameters["q"] != "a b" {
		t.Errorf("queryStringParameters = %v", e.QueryStringParameters)
	}
	if strings.Join(e.Cookies, "|") != "sid=1|theme=dark" || e.Headers["cookie"] != "" {
		t.Errorf("cookies = %v, cookie header %q", e.Cookies, e.Headers["cookie"])
	}
	for k, want := range map[string]string{"user-agent": "sdk/1", "x-request-id": "req-1", "x-consumer-id": "acme",
		"x-consumer-groups": "partners", "x-real-ip": "192.0.2.1", "x-gateway": "gantry", "x-forwarded-proto": "http",
		"host": "api.example.com"} {
		if got := e.Headers[k]; got != want {
			t.Errorf("headers[%s] = %q, want %q", k, got, want)
		}
	}
	if _, ok := e.Headers["x-hop"]; ok {
		t.Error("a header the client named in Connection reached the function")
	}
	if e.PathParameters["id"] != "7" || e.RequestContext.HTTP.Method != "POST" || e.RequestContext.HTTP.SourceIP != "192.0.2.1" ||
		e.RequestContext.RequestID != "req-1" || e.RequestContext.DomainName != "api.example.com" {
		t.Errorf("pathParameters %v, requestContext %+v", e.PathParameters, e.RequestContext)
	}
	if a := e.RequestContext.Authorizer; a == nil || a.Lambda.ConsumerID != "acme" || a.Lambda.Groups[0] != "partners" {
		t.Errorf("authorizer = %+v", a)
	}
	if b, _ := base64.StdEncoding.DecodeString(e.Body); !e.IsBase64Encoded || string(b) != "\xff\x00binary" {
		t.Errorf("body = %q (base64 %v), want the binary body in base64", e.Body, e.IsBase64Encoded)
	}

	if w.Code != 201 || w.Body.String() != "created" || w.Header().Get("X-Thumb") != "ok" {
		t.Errorf("answer = %d %q %v", w.Code, w.Body, w.Header())
	}
	if got := w.Header()["Set-Cookie"]; strings.Join(got, "|") != "a=1|b=2" {
		t.Errorf("Set-Cookie = %q", got)
	}
	if got := w.Header()["X-Request-Id"]; len(got) != 1 || got[0] != "req-1" {
		t.Errorf("X-Request-Id = %q, want the gateway's only", got)
	}
	// Status, Err, BytesIn and BytesOut are the server's to record, not
	// the function's.
	if x.Status != 0 || x.Err != nil || x.Upstream != "thumbs" || x.Target != "thumbnailer" || x.BytesIn != 0 || x.BytesOut != 0 {
		t.Errorf("exchange = status %d upstream %q target %q in %d out %d", x.Status, x.Upstream, x.Target, x.BytesIn, x.BytesOut)
	}
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		answer     http.HandlerFunc
		wantStatus int
		wantBody   string
		wantCT     string
	}{
		{"plain JSON object", answerJSON(`{"id":7,"name":"x"}`), 200, `{"id":7,"name":"x"}`, "application/json"},
		{"JSON array", answerJSON(` [1,2] `), 200, `[1,2]`, "application/json"},
		{"base64 body", answerJSON(`{"statusCode":200,"headers":{"Content-Type":"image/png"},"body":"iVBORw==","isBase64Encoded":true}`), 200, "\x89PNG", "image/png"},
		{"multi-value headers", answerJSON(`{"statusCode":"404","multiValueHeaders":{"Content-Type":["text/plain"]},"body":"nope"}`), 404, "nope", "text/plain"},
		{"no body", answerJSON(`{"statusCode":204}`), 204, "", ""},
		{"function error", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = io.WriteString(w, `{"errorMessage":"secret stack trace"}`)
		}, 502, "", ""},
		{"throttled", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(429) }, 503, "", ""},
		{"function not found", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }, 502, "", ""},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html>") }, 502, "", ""},
		{"status out of range", answerJSON(`{"statusCode":99}`), 502, "", ""},
		{"informational status", answerJSON(`{"statusCode":101}`), 502, "", ""},
		{"bad base64", answerJSON(`{"statusCode":200,"body":"***","isBase64Encoded":true}`), 502, "", ""},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, 504, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newInvokeAPI(t, tt.answer)
			h := newHandler(t, api, nil, nil)
			h.timeout = 300 * time.Millisecond
			w, err := serve(t, h, httptest.NewRequest("GET", "/x", nil), &pipeline.Exchange{})
			status := w.Code
			if err != nil {
				he, ok := err.(*pipeline.HTTPError)
				if !ok {
					t.Fatalf("ServeHTTP() error %T %v", err, err)
				}
				status = he.Status
				if strings.Contains(he.Message, "secret") {
					t.Errorf("error message %q leaks the function's error", he.Message)
				}
			}
			if status != tt.wantStatus {
				t.Fatalf("status = %d (err %v), want %d", status, err, tt.wantStatus)
			}
			if err == nil && (w.Body.String() != tt.wantBody || w.Header().Get("Content-Type") != tt.wantCT) {
				t.Errorf("answer = %q %q, want %q %q", w.Body, w.Header().Get("Content-Type"), tt.wantBody, tt.wantCT)
			}
		})
	}
}

func TestCredentialsRequiredWithoutEndpoint(t *testing.T) {
	t.Parallel()
	up := &config.Upstream{Lambda: &config.Lambda{Function: "f", Region: "us-east-1"}}
	if _, err := New("fn", up, nil, Options{Env: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("New() without credentials or endpoint = %v, want an error naming AWS_ACCESS_KEY_ID", err)
	}
	h, err := New("fn", up, nil, Options{Env: func(k string) string {
		return map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}[k]
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.(*handler).url; got != "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations" {
		t.Errorf("url = %q", got)
	}
}

func TestTextBodyAndBodyLimit(t *testing.T) {
	t.Parallel()
	api := newInvokeAPI(t, answerJSON(`{}`))
	h := newHandler(t, api, nil, nil)
	if _, err := serve(t, h, httptest.NewRequest("PUT", "/x", strings.NewReader(`{"a":"é"}`)), &pipeline.Exchange{}); err != nil {
		t.Fatal(err)
	}
	<-api.got
	if e := <-api.events; e.Body != `{"a":"é"}` || e.IsBase64Encoded {
		t.Errorf("body = %q base64 %v, want the text as is", e.Body, e.IsBase64Encoded)
	}
	r := httptest.NewRequest("POST", "/x", strings.NewReader(strings.Repeat("a", MaxPayload+1)))
	_, err := serve(t, h, r, &pipeline.Exchange{})
	if he, ok := err.(*pipeline.HTTPError); !ok || he.Status != 413 {
		t.Errorf("a body over %d bytes = %v, want 413", MaxPayload, err)
	}
}

func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{`{}`, `[1]`, `"x"`, `{"statusCode":200,"body":"x"}`, `{"statusCode":"2e2"}`,
		`{"statusCode":200,"headers":{"a":1,"b":true,"c":null}}`, `{"statusCode":200,"body":"eA==","isBase64Encoded":true}`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := parseAnswer(payload)
		if err != nil {
			return
		}
		if a.status < 200 || a.status > 599 {
			t.Fatalf("status %d accepted", a.status)
		}
		if a.rawJSON && !json.Valid(a.body) {
			t.Fatalf("raw answer %q is not JSON", a.body)
		}
	})
}

func TestRESTPayloadFormat(t *testing.T) {
	t.Parallel()
	var raw map[string]any
	api := newInvokeAPI(t, answerJSON(`{"statusCode":200,"body":"ok"}`))
	up := &config.Upstream{Lambda: &config.Lambda{Function: "legacy", Region: "us-east-1", Endpoint: api.srv.URL, PayloadFormat: "1.0"}}
	rt := &config.Route{Match: config.Match{Path: "/orders/{id}"}}
	hi, err := New("legacy", up, rt, Options{Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	h := hi.(*handler)
	r := httptest.NewRequest("POST", "http://shop.example.com:8443/orders/9?tag=a&tag=b", strings.NewReader(`{"n":1}`))
	r.Header.Set("Cookie", "sid=1")
	r.Header.Add("X-Multi", "1")
	r.Header.Add("X-Multi", "2")
	x := &pipeline.Exchange{Path: "/orders/9", ClientIP: "198.51.100.4", Params: []pipeline.Param{{Name: "id", Value: "9"}}}
	w, err := serve(t, h, r, x)
	if err != nil || w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("ServeHTTP() = %d %q, %v", w.Code, w.Body, err)
	}
	<-api.got
	<-api.events
	// Path parameters are decoded text: the escapes a canonical path keeps
	// (%25, %2F, %5C) are decoded once, never passed on as escapes.
	xe := *x
	xe.Params = []pipeline.Param{{Name: "id", Value: "a%2Fb%25c%5Cd"}}
	if body, err := h.event(r, &xe, nil); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	} else if pp, _ := raw["pathParameters"].(map[string]any); pp["id"] != `a/b%c\d` {
		t.Errorf("decoded pathParameters = %v", raw["pathParameters"])
	}
	raw = nil
	// The fake decodes 2.0 events; build the 1.0 one again to read it.
	body, err := h.event(r, x, []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"version": "1.0", "httpMethod": "POST", "path": "/orders/9", "resource": "/orders/{id}", "body": `{"n":1}`, "isBase64Encoded": false} {
		if raw[k] != want {
			t.Errorf("%s = %v, want %v", k, raw[k], want)
		}
	}
	mvq, _ := raw["multiValueQueryStringParameters"].(map[string]any)
	if tags, _ := mvq["tag"].([]any); len(tags) != 2 {
		t.Errorf("multiValueQueryStringParameters = %v", raw["multiValueQueryStringParameters"])
	}
	mvh, _ := raw["multiValueHeaders"].(map[string]any)
	if m, _ := mvh["X-Multi"].([]any); len(m) != 2 {
		t.Errorf("multiValueHeaders = %v", mvh)
	}
	if hd, _ := raw["headers"].(map[string]any); hd["Cookie"] != "sid=1" || hd["X-Real-Ip"] != "198.51.100.4" || hd["Host"] != "shop.example.com:8443" {
		t.Errorf("headers = %v, want the Cookie kept, the gateway's headers and the client's Host", hd)
	}
	if h, _ := mvh["Host"].([]any); len(h) != 1 || h[0] != "shop.example.com:8443" {
		t.Errorf("multiValueHeaders[Host] = %v, want the client's Host", mvh["Host"])
	}
	rc, _ := raw["requestContext"].(map[string]any)
	id, _ := rc["identity"].(map[string]any)
	if id["sourceIp"] != "198.51.100.4" || rc["resourcePath"] != "/orders/{id}" {
		t.Errorf("requestContext = %v", rc)
	}
	if pp, _ := raw["pathParameters"].(map[string]any); pp["id"] != "9" {
		t.Errorf("pathParameters = %v", raw["pathParameters"])
	}
}

// The function's headers are filtered as an upstream's are: what the
// gateway set wins, and hop-by-hop fields never reach the client.
func TestAnswerHeadersFiltered(t *testing.T) {
	t.Parallel()
	api := newInvokeAPI(t, answerJSON(`{"statusCode":200,"headers":{"Connection":"X-Hop","X-Hop":"secret","Keep-Alive":"timeout=5",
		"Content-Length":"999","RateLimit-Limit":"1000","RateLimit-Remaining":"999","X-Kept":"yes"},"body":"ok"}`))
	h := newHandler(t, api, nil, nil)
	w := httptest.NewRecorder()
	w.Header()["Ratelimit-Limit"] = []string{"5"}
	w.Header()["Ratelimit-Remaining"] = []string{"4"}
	r := httptest.NewRequest("GET", "/x", nil)
	if err := h.ServeHTTP(w, r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ID: "req-2"}))); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"Ratelimit-Limit": {"5"}, "Ratelimit-Remaining": {"4"}, "X-Kept": {"yes"},
		"Content-Length": {"2"}, "Connection": nil, "X-Hop": nil, "Keep-Alive": nil} {
		if got := w.Header()[name]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
}

type failingBody struct{ err error }

func (b failingBody) Read([]byte) (int, error) { return 0, b.err }

func TestBodyReadFailures(t *testing.T) {
	t.Parallel()
	api := newInvokeAPI(t, answerJSON(`{}`))
	h := newHandler(t, api, nil, nil)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		body io.Reader
		want int
	}{
		{"client gone", gone, failingBody{context.Canceled}, pipeline.StatusClientClosed},
		{"over the route limit", context.Background(), http.MaxBytesReader(nil, io.NopCloser(strings.NewReader("abcdef")), 3), http.StatusRequestEntityTooLarge},
		{"broken body", context.Background(), failingBody{io.ErrUnexpectedEOF}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequestWithContext(tt.ctx, "POST", "/x", tt.body)
			_, err := serve(t, h, r, &pipeline.Exchange{})
			if he, ok := err.(*pipeline.HTTPError); !ok || he.Status != tt.want {
				t.Errorf("ServeHTTP() = %v, want status %d", err, tt.want)
			}
		})
	}
}

// failingWriter is a client that went away: every body write fails.
type failingWriter struct {
	*httptest.ResponseRecorder
	err error
}

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestClientGoneWhileAnswering(t *testing.T) {
	t.Parallel()
	api := newInvokeAPI(t, answerJSON(`{"statusCode":200,"body":"hello"}`))
	h := newHandler(t, api, nil, nil)
	r := httptest.NewRequest("GET", "/x", nil)
	x := &pipeline.Exchange{ID: "req-1"}
	gone := errors.New("write: broken pipe")
	w := failingWriter{httptest.NewRecorder(), gone}
	err := h.ServeHTTP(w, r.WithContext(pipeline.WithExchange(r.Context(), x)))
	ae, ok := errors.AsType[*pipeline.AbortedError](err)
	if !ok || ae.Status != pipeline.StatusClientClosed || ae.Err != gone {
		t.Fatalf("ServeHTTP() error = %T %v, want an *AbortedError with 499 and the write error", err, err)
	}
	if err.Error() != gone.Error() || !errors.Is(err, http.ErrAbortHandler) {
		t.Errorf("error %q (abort %v), want the write error's text wrapping http.ErrAbortHandler", err, errors.Is(err, http.ErrAbortHandler))
	}
	if x.Status != 0 || x.Err != nil {
		t.Errorf("Exchange = %d %v; the outcome is the server's to record", x.Status, x.Err)
	}
}

// TestInvocationMetrics: an invocation counts under what the function did,
// not the invoke API's 200: a function error as function_error, a
// function that ran out of time, or an invoke that did not answer in time,
// as timeout.
func TestInvocationMetrics(t *testing.T) {
	t.Parallel()
	functionError := func(payload string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = io.WriteString(w, payload)
		}
	}
	tests := []struct {
		name   string
		answer http.HandlerFunc
		status string
	}{
		{"answer", answerJSON(`{"statusCode":404,"body":"nope"}`), "200"},
		{"function error", functionError(`{"errorType":"KeyError","errorMessage":"'id'"}`), "function_error"},
		{"function timeout", functionError(`{"errorType":"Sandbox.Timedout","errorMessage":"2026-11-26T12:00:03Z 1b2c Task timed out after 3.00 seconds"}`), "timeout"},
		{"throttled", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(429) }, "429"},
		{"invoke too slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newInvokeAPI(t, tt.answer)
			m := telemetry.NewMetrics()
			up := &config.Upstream{Lambda: &config.Lambda{Function: "thumbnailer", Region: "eu-west-1", Endpoint: api.srv.URL},
				Timeouts: config.Timeouts{Response: config.Duration(300 * time.Millisecond)}}
			h, err := New("thumbs", up, nil, Options{Env: func(string) string { return "" }, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			serve(t, h.(*handler), httptest.NewRequest("GET", "/x", nil), &pipeline.Exchange{})
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			var counted []string
			for l := range strings.SplitSeq(rec.Body.String(), "\n") {
				if strings.HasPrefix(l, "gantry_upstream_requests_total{") {
					counted = append(counted, l)
				}
			}
			want := `gantry_upstream_requests_total{status="` + tt.status + `",target="thumbnailer",upstream="thumbs"} 1`
			if len(counted) != 1 || counted[0] != want {
				t.Errorf("counted %q, want [%s]", counted, want)
			}
		})
	}
}
