package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
	"github.com/google/go-cmp/cmp"
)

func TestLambdaEvent(t *testing.T) {
	f := newFakeLambda(t, nil)
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  api_key: {header: X-API-Key}
consumers:
  - id: acme
    groups: [partners]
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  fn: {lambda: {function: shop-api, region: us-east-1, endpoint: %q}}
routes:
  - name: items
    match: {path: "/api/items/{id}"}
    strip_prefix: /api
    upstream: fn
    request_headers: {set: {X-Env: prod}}
  - name: upload
    match: {path_prefix: /upload}
    upstream: fn
  - name: small
    match: {path_prefix: /small}
    upstream: fn
    max_body_bytes: 1KiB
  - name: me
    match: {path: /me}
    upstream: fn
    auth: [api_key]
`, f.URL)), noAWSCredentials...)

	t.Run("GET with query, cookies and path parameter", func(t *testing.T) {
		t.Parallel()
		before := time.Now().UnixMilli()
		r := get(t, g.URL+"/api/items/42?b=2&a=1&a=3&sp=x%20y",
			"Host: shop.example.com:8443",
			"Cookie: session=abc; theme=dark",
			"X-Custom: One",
			"X-Multi: v1",
			"X-Multi: v2",
			"User-Agent: e2e-agent/1.0",
			"X-Request-ID: evt-get-1",
			"X-Forwarded-For: 6.6.6.6",
			"X-Consumer-ID: admin",
			"Connection: X-Hop",
			"X-Hop: hop-secret",
		)
		after := time.Now().UnixMilli()
		if r.Status != 200 || string(r.Body) != "ok" {
			t.Fatalf("status %d body %q, want 200 ok", r.Status, r.Body)
		}
		if got := r.Header.Get("X-Request-ID"); got != "evt-get-1" {
			t.Fatalf("response X-Request-ID = %q, want evt-get-1", got)
		}
		inv := f.invocation(t, "evt-get-1")
		ev := inv.Event
		if inv.Function != "shop-api" {
			t.Errorf("invoked function %q, want shop-api", inv.Function)
		}
		rc := ev.RequestContext
		for _, c := range []struct{ field, got, want string }{
			{"version", ev.Version, "2.0"},
			{"routeKey", ev.RouteKey, "$default"},
			{"rawPath", ev.RawPath, "/items/42"},
			{"rawQueryString", ev.RawQueryString, "b=2&a=1&a=3&sp=x%20y"},
			{"requestContext.accountId", rc.AccountID, "gantry"},
			{"requestContext.apiId", rc.APIID, "gantry"},
			{"requestContext.domainName", rc.DomainName, "shop.example.com"},
			{"requestContext.http.method", rc.HTTP.Method, "GET"},
			{"requestContext.http.path", rc.HTTP.Path, "/items/42"},
			{"requestContext.http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
			{"requestContext.http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1"},
			{"requestContext.http.userAgent", rc.HTTP.UserAgent, "e2e-agent/1.0"},
			{"requestContext.requestId", rc.RequestID, "evt-get-1"},
			{"requestContext.routeKey", rc.RouteKey, "$default"},
			{"requestContext.stage", rc.Stage, "$default"},
			{"body", ev.Body, ""},
		} {
			if c.got != c.want {
				t.Errorf("event %s = %q, want %q", c.field, c.got, c.want)
			}
		}
		if rc.TimeEpoch < before || rc.TimeEpoch > after {
			t.Errorf("requestContext.timeEpoch = %d, want between %d and %d", rc.TimeEpoch, before, after)
		}
		if diff := cmp.Diff([]string{"session=abc", "theme=dark"}, ev.Cookies); diff != "" {
			t.Errorf("cookies (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"a": "1,3", "b": "2", "sp": "x y"}, ev.QueryStringParameters); diff != "" {
			t.Errorf("queryStringParameters (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"id": "42"}, ev.PathParameters); diff != "" {
			t.Errorf("pathParameters (-want +got):\n%s", diff)
		}
		for name, want := range map[string]string{
			"x-custom":          "One",
			"x-multi":           "v1,v2",
			"user-agent":        "e2e-agent/1.0",
			"x-request-id":      "evt-get-1",
			"x-forwarded-for":   "127.0.0.1",
			"host":              "shop.example.com:8443",
			"x-forwarded-host":  "shop.example.com:8443",
			"x-forwarded-proto": "http",
			"x-real-ip":         "127.0.0.1",
			"x-env":             "prod",
		} {
			if got, ok := ev.Headers[name]; !ok || got != want {
				t.Errorf("event header %s = %q (present %v), want %q", name, got, ok, want)
			}
		}
		for _, name := range []string{"cookie", "connection", "x-hop", "x-consumer-id", "x-consumer-groups"} {
			if v, ok := ev.Headers[name]; ok {
				t.Errorf("event header %s = %q, want it left out", name, v)
			}
		}
		for name := range ev.Headers {
			if name != strings.ToLower(name) {
				t.Errorf("event header name %q is not lower-case", name)
			}
		}
		if rc.Authorizer != nil {
			t.Errorf("requestContext.authorizer = %+v on a route without auth", *rc.Authorizer)
		}
		if ev.IsBase64Encoded {
			t.Error("isBase64Encoded is true for a request without a body")
		}
	})

	t.Run("POST text body", func(t *testing.T) {
		t.Parallel()
		const body = `{"note":"héllo wörld"}`
		r := do(t, "POST", g.URL+"/upload/notes", body, "Content-Type: application/json", "X-Request-ID: evt-post-text")
		if r.Status != 200 {
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
		inv := f.invocation(t, "evt-post-text")
		ev := inv.Event
		if ev.Body != body || ev.IsBase64Encoded {
			t.Errorf("body %q isBase64Encoded %v, want %q false", ev.Body, ev.IsBase64Encoded, body)
		}
		if ev.RequestContext.HTTP.Method != "POST" || ev.RawPath != "/upload/notes" || ev.RawQueryString != "" {
			t.Errorf("method %q rawPath %q rawQueryString %q", ev.RequestContext.HTTP.Method, ev.RawPath, ev.RawQueryString)
		}
		if got := ev.Headers["content-type"]; got != "application/json" {
			t.Errorf("event header content-type = %q", got)
		}
		for _, key := range []string{"cookies", "queryStringParameters", "pathParameters"} {
			if v, ok := inv.Keys[key]; ok {
				t.Errorf("event has %s = %s, want it omitted when there are none", key, v)
			}
		}
	})

	t.Run("POST binary body", func(t *testing.T) {
		t.Parallel()
		body := "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x80"
		r := do(t, "POST", g.URL+"/upload/photo", body, "Content-Type: image/jpeg", "X-Request-ID: evt-post-bin")
		if r.Status != 200 {
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
		ev := f.invocation(t, "evt-post-bin").Event
		if !ev.IsBase64Encoded {
			t.Fatalf("isBase64Encoded false for a body that is not UTF-8 (body %q)", ev.Body)
		}
		got, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil || string(got) != body {
			t.Errorf("decoded body %q (%v), want %q", got, err, body)
		}
	})

	t.Run("route body limit", func(t *testing.T) {
		t.Parallel()
		r := do(t, "POST", g.URL+"/small", strings.Repeat("a", 2048), "X-Request-ID: evt-small")
		if r.Status != 413 || r.gwError(t).Error != "body_too_large" {
			t.Fatalf("2 KiB body on a 1 KiB route: %d %s", r.Status, r.Body)
		}
		if n := len(f.invocations("evt-small")); n != 0 {
			t.Fatalf("function invoked %d times for a 413", n)
		}
	})

	t.Run("lambda payload cap", func(t *testing.T) {
		t.Parallel()
		// The server's default limit is 10 MiB; Lambda takes at most 6 MiB.
		if r := do(t, "POST", g.URL+"/upload/big", strings.Repeat("a", 6<<20), "X-Request-ID: evt-at-cap"); r.Status != 200 {
			t.Fatalf("6 MiB body: %d %.200s, want 200", r.Status, r.Body)
		}
		if got := len(f.invocation(t, "evt-at-cap").Event.Body); got != 6<<20 {
			t.Fatalf("event body of %d bytes, want %d", got, 6<<20)
		}
		r := do(t, "POST", g.URL+"/upload/big", strings.Repeat("a", 6<<20+1), "X-Request-ID: evt-big")
		if r.Status != 413 || r.gwError(t).Error != "body_too_large" {
			t.Fatalf("6 MiB + 1 body: %d %.200s", r.Status, r.Body)
		}
		if n := len(f.invocations("evt-big")); n != 0 {
			t.Fatalf("function invoked %d times for a 413", n)
		}
	})

	t.Run("consumer", func(t *testing.T) {
		t.Parallel()
		r := get(t, g.URL+"/me", "X-API-Key: acme-key-0123456789", "X-Consumer-ID: admin", "X-Request-ID: evt-consumer")
		if r.Status != 200 {
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
		ev := f.invocation(t, "evt-consumer").Event
		if got := ev.Headers["x-consumer-id"]; got != "acme" {
			t.Errorf("event header x-consumer-id = %q, want acme", got)
		}
		if got := ev.Headers["x-consumer-groups"]; got != "partners" {
			t.Errorf("event header x-consumer-groups = %q, want partners", got)
		}
		if v, ok := ev.Headers["x-api-key"]; ok {
			t.Errorf("event carries the API key header (%q)", v)
		}
		a := ev.RequestContext.Authorizer
		if a == nil {
			t.Fatal("requestContext.authorizer missing after auth")
		}
		if a.Lambda.ConsumerID != "acme" {
			t.Errorf("requestContext.authorizer.lambda.consumer_id = %q, want acme", a.Lambda.ConsumerID)
		}
		if !bytes.Contains(a.Lambda.Groups, []byte(`"partners"`)) {
			t.Errorf("requestContext.authorizer.lambda.groups = %s, want partners", a.Lambda.Groups)
		}
		if r := get(t, g.URL+"/me", "X-Request-ID: evt-no-key"); r.Status != 401 {
			t.Errorf("without a key: %d, want 401", r.Status)
		}
		if n := len(f.invocations("evt-no-key")); n != 0 {
			t.Errorf("function invoked %d times for a 401", n)
		}
	})
}

// TestLambdaTrustedProxy: behind a trusted proxy the event names the
// original client.
func TestLambdaTrustedProxy(t *testing.T) {
	f := newFakeLambda(t, nil)
	g := testkit.Start(t, baseWith("  trusted_proxies: [127.0.0.1/32]", fmt.Sprintf(`upstreams:
  fn: {lambda: {function: shop-api, region: us-east-1, endpoint: %q}}
routes:
  - {name: fn, match: {path_prefix: /}, upstream: fn}
`, f.URL)), noAWSCredentials...)
	if r := get(t, g.URL+"/x", "X-Forwarded-For: 203.0.113.9", "X-Request-ID: trusted-1"); r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	ev := f.invocation(t, "trusted-1").Event
	if got := ev.RequestContext.HTTP.SourceIP; got != "203.0.113.9" {
		t.Errorf("requestContext.http.sourceIp = %q, want 203.0.113.9", got)
	}
	if got := ev.Headers["x-forwarded-for"]; got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("event header x-forwarded-for = %q, want %q", got, "203.0.113.9, 127.0.0.1")
	}
}

// TestLambdaReload: a reload that changes the function takes effect
// without a restart.
func TestLambdaReload(t *testing.T) {
	f := newFakeLambda(t, nil)
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  fn: {lambda: {function: shop-api-v1, region: us-east-1, endpoint: %q}}
routes:
  - {name: fn, match: {path_prefix: /}, upstream: fn}
`, f.URL)), noAWSCredentials...)
	if r := get(t, g.URL+"/x", "X-Request-ID: reload-before"); r.Status != 200 || f.invocation(t, "reload-before").Function != "shop-api-v1" {
		t.Fatalf("before reload: %d %s", r.Status, r.Body)
	}
	rewriteConfig(t, g.ConfigPath, "shop-api-v1", "shop-api-v2")
	g.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("reload-%d", i)
		if r := get(t, g.URL+"/x", "X-Request-ID: "+id); r.Status != 200 {
			t.Fatalf("during reload: %d %s", r.Status, r.Body)
		}
		if f.invocation(t, id).Function == "shop-api-v2" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("function still shop-api-v1 5s after the reload")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A function written for API Gateway REST APIs gets payload format 1.0.
func TestLambdaRESTPayloadFormat(t *testing.T) {
	t.Parallel()
	f := newFakeLambda(t, nil)
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  fn: {lambda: {function: legacy-api, region: us-east-1, endpoint: %q, payload_format: "1.0"}}
routes:
  - name: orders
    match: {path: "/orders/{id}"}
    upstream: fn
`, f.URL)), noAWSCredentials...)
	r := get(t, g.URL+"/orders/9?tag=a&tag=b", "Host: legacy.example.com", "Cookie: sid=1", "X-Request-ID: rest-1")
	if r.Status != 200 || string(r.Body) != "ok" {
		t.Fatalf("GET = %d %q, want the function's 200 ok", r.Status, r.Body)
	}
	f.mu.Lock()
	calls := append([]invocation(nil), f.calls...)
	f.mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("%d invocations, want 1", len(calls))
	}
	var e struct {
		Version                         string              `json:"version"`
		Resource                        string              `json:"resource"`
		Path                            string              `json:"path"`
		HTTPMethod                      string              `json:"httpMethod"`
		Headers                         map[string]string   `json:"headers"`
		MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
		MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
		PathParameters                  map[string]string   `json:"pathParameters"`
		RequestContext                  struct {
			RequestID string `json:"requestId"`
			Identity  struct {
				SourceIP string `json:"sourceIp"`
			} `json:"identity"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(calls[0].Payload, &e); err != nil {
		t.Fatal(err)
	}
	if e.Version != "1.0" || e.Resource != "/orders/{id}" || e.Path != "/orders/9" || e.HTTPMethod != "GET" {
		t.Errorf("event = version %q resource %q path %q method %q", e.Version, e.Resource, e.Path, e.HTTPMethod)
	}
	if got := e.MultiValueQueryStringParameters["tag"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("multiValueQueryStringParameters[tag] = %q", got)
	}
	if e.PathParameters["id"] != "9" || e.Headers["Cookie"] != "sid=1" || e.RequestContext.RequestID != "rest-1" || e.RequestContext.Identity.SourceIP != "127.0.0.1" {
		t.Errorf("pathParameters %v, Cookie %q, requestId %q, sourceIp %q", e.PathParameters, e.Headers["Cookie"], e.RequestContext.RequestID, e.RequestContext.Identity.SourceIP)
	}
	if e.Headers["Host"] != "legacy.example.com" || len(e.MultiValueHeaders["Host"]) != 1 || e.MultiValueHeaders["Host"][0] != "legacy.example.com" {
		t.Errorf("headers.Host = %q, multiValueHeaders.Host = %q, want the client's Host", e.Headers["Host"], e.MultiValueHeaders["Host"])
	}
}
