package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// The tests below hold the direct path (direct.go) to ReverseProxy's
// behaviour: the same route is built twice, once as New returns it and once
// with the direct path off, and every request goes through both.

// parityHandlers builds the route twice from one configuration: direct as
// New returns it, rp with the direct path off, so that every request takes
// ReverseProxy. newUp is called once per handler, so the two share no pool
// state (round-robin position, retry budget, passive health).
func parityHandlers(tb testing.TB, newUp func() *config.Upstream, rt *config.Route, opts Options) (direct, rp pipeline.Handler) {
	tb.Helper()
	build := func() pipeline.Handler {
		up := newUp()
		h, err := New(mustPool(tb, up), up, rt, opts)
		if err != nil {
			tb.Fatalf("New() error: %v", err)
		}
		return h
	}
	direct, rp = build(), build()
	if direct.(*handler).fast == nil {
		tb.Fatal("New() left the direct path off for an http target")
	}
	rp.(*handler).fast = nil
	return direct, rp
}

// upstreamRequest is one request as an upstream received it.
type upstreamRequest struct {
	Target           int
	Method           string
	RequestURI       string
	Host             string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Body             string
}

// requestLog collects what the upstreams of one parity case received.
type requestLog struct {
	mu   sync.Mutex
	reqs []upstreamRequest
}

func (l *requestLog) take() []upstreamRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	reqs := l.reqs
	l.reqs = nil
	return reqs
}

// recordingUpstream starts target i of a parity case: it reads and logs the
// whole request, then answers with answer.
func recordingUpstream(tb testing.TB, l *requestLog, i int, answer http.HandlerFunc) *httptest.Server {
	tb.Helper()
	return newUpstream(tb, recording(l, i, answer))
}

// recordingUpstreamTLS is recordingUpstream over TLS, HTTP/2 enabled.
func recordingUpstreamTLS(tb testing.TB, l *requestLog, i int, answer http.HandlerFunc) *httptest.Server {
	tb.Helper()
	return newUpstreamTLS(tb, recording(l, i, answer))
}

func recording(l *requestLog, i int, answer http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			http.Error(w, "not HTTP/1.1: "+r.Proto, http.StatusHTTPVersionNotSupported)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			body = append(body, "<read error: "+err.Error()+">"...)
		}
		h := r.Header.Clone()
		if len(h["X-Forwarded-Port"]) == 1 {
			// The two gateways a parity case compares listen on two ports.
			h["X-Forwarded-Port"] = []string{"(the gateway's port)"}
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, upstreamRequest{
			Target: i, Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: h,
			ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Body: string(body),
		})
		l.mu.Unlock()
		answer(w, r)
	}
}

// exchangeView is what the handler left in the Exchange and returned.
type exchangeView struct {
	// Direct says whether the request qualified for the direct path.
	Direct   bool
	Status   int
	Attempts int
	Target   string
	Err      bool
	// ErrStatus is the status of a returned *pipeline.HTTPError; Aborted
	// says the error wraps http.ErrAbortHandler.
	ErrStatus int
	Aborted   bool
}

func viewExchange(h pipeline.Handler, r *http.Request, x *pipeline.Exchange, err error) exchangeView {
	v := exchangeView{
		Direct: h.(*handler).fast != nil && direct(r) && h.(*handler).directTarget(h.(*handler).pool.Targets()[0]),
		Status: x.Status, Attempts: x.Attempts, Target: x.Target,
		Err: x.Err != nil, Aborted: errors.Is(err, http.ErrAbortHandler),
	}
	if he, ok := errors.AsType[*pipeline.HTTPError](err); ok {
		v.ErrStatus = he.Status
	}
	return v
}

// gatewayRequest is the per-request state package server would give the
// proxy.
type gatewayRequest struct {
	path     string             // Exchange.Path; "" is the request path
	consumer *pipeline.Consumer // set by authentication
	header   http.Header        // response headers set before the proxy ran
}

// parityGateway serves h the way package server does, as far as the proxy
// can tell: X-Request-ID (and gr.header, as a rate limiter would) set before
// the handler runs, errors written as bare statuses, and a response that
// failed after it started aborted. The Exchange of each request is sent on
// the returned channel.
func parityGateway(tb testing.TB, h pipeline.Handler, gr gatewayRequest) (*httptest.Server, <-chan exchangeView) {
	tb.Helper()
	done := make(chan exchangeView, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &pipeline.Exchange{ID: "gw-req-1", Path: gr.path, ClientIP: forward.ClientIP(r, nil), Consumer: gr.consumer}
		if x.Path == "" {
			x.Path = r.URL.Path
		}
		w.Header().Set("X-Request-ID", x.ID)
		for k, vv := range gr.header {
			w.Header()[k] = append([]string(nil), vv...)
		}
		err := serveGateway(h, w, r, x)
		v := viewExchange(h, r, x, err)
		select {
		case done <- v:
		default:
		}
		switch {
		case v.ErrStatus != 0 && v.ErrStatus != pipeline.StatusClientClosed:
			w.WriteHeader(v.ErrStatus)
		case v.Aborted && x.Status != pipeline.StatusClientClosed:
			panic(http.ErrAbortHandler)
		}
	}))
	tb.Cleanup(s.Close)
	return s, done
}

// informational is a 1xx answer as the client saw it.
type informational struct {
	Code   int
	Header http.Header
}

// responseView is what the client saw. Date is left out: it is the clock's.
type responseView struct {
	Informational    []informational
	Status           int
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Body             string
	Trailer          http.Header
	ReadErr          bool
}

// clientRequest is a request as a client sends it to the gateway.
type clientRequest struct {
	method string
	target string      // path and query
	header http.Header // without User-Agent, none is sent
	body   string
}

func (cr clientRequest) do(tb testing.TB, c *http.Client, base string) responseView {
	tb.Helper()
	var v responseView
	var mu sync.Mutex
	ctx := httptrace.WithClientTrace(tb.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			v.Informational = append(v.Informational, informational{code, http.Header(h).Clone()})
			mu.Unlock()
			return nil
		},
	})
	var body io.Reader = http.NoBody
	if cr.body != "" {
		body = strings.NewReader(cr.body)
	}
	req, err := http.NewRequestWithContext(ctx, cr.method, base+cr.target, body)
	if err != nil {
		tb.Fatalf("NewRequest(%s %s) error: %v", cr.method, cr.target, err)
	}
	req.Host = "api.example.com"
	for k, vv := range cr.header {
		req.Header[k] = vv
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		// Empty means none, rather than Go's default.
		req.Header["User-Agent"] = []string{""}
	}
	res, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s error: %v", cr.method, cr.target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	mu.Lock()
	defer mu.Unlock()
	v.Status, v.Header, v.Body, v.ReadErr = res.StatusCode, res.Header, string(b), err != nil
	v.ContentLength, v.TransferEncoding, v.Trailer = res.ContentLength, res.TransferEncoding, res.Trailer
	delete(v.Header, "Date")
	return v
}

// parityClient talks to the test gateways; compression off, so
// Accept-Encoding is only what a case sends.
func parityClient(tb testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// Upstream answers of the parity cases.
func answerJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server", "users/1.4")
	w.Header().Set("Cache-Control", "max-age=60")
	io.WriteString(w, `{"id":42,"name":"Ada Lovelace"}`)
}

func answerStatus(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestDirectParity(t *testing.T) {
	t.Parallel()
	client := parityClient(t)
	// The server's escaping keeps an encoded slash in one segment.
	opts := Options{EscapePath: func(p string) string { return strings.ReplaceAll(defaultEscape(p), "a/b", "a%2Fb") }}
	big := strings.Repeat("0123456789abcdef", MaxReplayBody/16)
	spoofed := http.Header{
		"Connection":          {"x-internal-hop, keep-alive"},
		"X-Internal-Hop":      {"drop me"},
		"Keep-Alive":          {"timeout=5"},
		"Te":                  {"deflate, trailers"},
		"Proxy-Authorization": {"Basic dXNlcjpwYXNz"},
		"Proxy-Connection":    {"keep-alive"},
		"X-Real-Ip":           {"198.51.100.66"},
		"X-Consumer-Id":       {"admin"},
		"X-Consumer-Groups":   {"root"},
		"Forwarded":           {"for=198.51.100.66;proto=https"},
		"X-Forwarded-For":     {"198.51.100.66, 10.0.0.1"},
		"X-Forwarded-Host":    {"evil.example"},
		"X-Forwarded-Proto":   {"https"},
		"Accept":              {"application/json"},
	}
	rules := &config.Route{
		RequestHeaders: &config.HeaderRules{
			Set:    map[string]string{"X-Gateway": "gantry", "Host": "users.internal", "Accept": "application/vnd.users+json"},
			Add:    map[string]string{"X-Tag": "gw", "X-Forwarded-For": "10.9.9.9"},
			Remove: []string{"X-Debug", "Cookie"},
		},
	}
	resRules := &config.Route{
		ResponseHeaders: &config.HeaderRules{
			Set:    map[string]string{"Cache-Control": "no-store"},
			Add:    map[string]string{"Vary": "X-Tenant"},
			Remove: []string{"Server"},
		},
	}
	rateLimit := http.Header{"Ratelimit-Limit": {"100"}, "Ratelimit-Remaining": {"99"}, "Ratelimit-Reset": {"30"}}

	tests := []struct {
		name    string
		req     clientRequest
		gw      gatewayRequest
		route   *config.Route
		retries int
		// answers has one handler per target (answerJSON when empty).
		answers []http.HandlerFunc
		// viaRP marks requests the direct path does not take.
		viaRP bool
		// check makes assertions of its own on top of parity.
		check func(t *testing.T, reqs []upstreamRequest, res responseView)
	}{
		{name: "GET with semicolon and unparsable query", req: clientRequest{method: "GET", target: "/search?q=a;b&x=%zz&y=1+2"},
			check: func(t *testing.T, reqs []upstreamRequest, _ responseView) {
				if got := reqs[0].RequestURI; got != "/search?q=a;b&x=%zz&y=1+2" {
					t.Errorf("upstream RequestURI = %q, want the query as sent", got)
				}
			}},
		{name: "GET with empty query", req: clientRequest{method: "GET", target: "/users?"},
			check: func(t *testing.T, reqs []upstreamRequest, _ responseView) {
				if got := reqs[0].RequestURI; got != "/users?" {
					t.Errorf("upstream RequestURI = %q, want /users?", got)
				}
			}},
		{name: "escaped path", req: clientRequest{method: "GET", target: "/files/a%2Fb/annual%20report.pdf"},
			check: func(t *testing.T, reqs []upstreamRequest, _ responseView) {
				if got := reqs[0].RequestURI; got != "/files/a%2Fb/annual%20report.pdf" {
					t.Errorf("upstream RequestURI = %q, want the encoded slash kept", got)
				}
			}},
		{name: "forward path", req: clientRequest{method: "GET", target: "/v2/users/7?fields=name"}, gw: gatewayRequest{path: "/accounts/7"}},
		{name: "request header rules and Host", route: rules, req: clientRequest{method: "GET", target: "/users/7", header: http.Header{
			"X-Debug": {"1"}, "Cookie": {"session=abc"}, "X-Tag": {"client"}, "Accept": {"*/*"}, "User-Agent": {"sdk/2.1"},
		}}, check: func(t *testing.T, reqs []upstreamRequest, _ responseView) {
			r := reqs[0]
			if r.Host != "users.internal" || r.Header.Get("X-Debug") != "" || len(r.Header["X-Tag"]) != 2 {
				t.Errorf("upstream saw Host %q, X-Debug %q, X-Tag %q; want the rules applied", r.Host, r.Header.Get("X-Debug"), r.Header["X-Tag"])
			}
		}},
		{name: "client hop-by-hop and spoofed headers", req: clientRequest{method: "GET", target: "/users/7", header: spoofed},
			check: func(t *testing.T, reqs []upstreamRequest, _ responseView) {
				h := reqs[0].Header
				for _, k := range []string{"Connection", "X-Internal-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "X-Consumer-Id", "X-Consumer-Groups", "Forwarded", "User-Agent"} {
					if v, ok := h[k]; ok {
						t.Errorf("upstream got %s: %q, want none", k, v)
					}
				}
				want := http.Header{"X-Real-Ip": {"127.0.0.1"}, "X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"api.example.com"}, "X-Forwarded-Proto": {"http"}, "Te": {"trailers"}}
				for k, v := range want {
					if !cmp.Equal(h[k], v) {
						t.Errorf("upstream got %s: %q, want %q", k, h[k], v)
					}
				}
			}},
		{name: "authenticated consumer over spoofed headers", req: clientRequest{method: "GET", target: "/orders", header: spoofed},
			gw: gatewayRequest{consumer: &pipeline.Consumer{ID: "acme", Groups: []string{"billing", "ops"}}}},
		{name: "POST small body", req: clientRequest{method: "POST", target: "/orders", body: `{"sku":"A-1","qty":2}`,
			header: http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"k-1"}}}},
		{name: "PUT empty body", req: clientRequest{method: "PUT", target: "/users/7/flag"}},
		{name: "PATCH body", req: clientRequest{method: "PATCH", target: "/users/7", body: `{"name":"Ada"}`}},
		{name: "client asks to close", req: clientRequest{method: "GET", target: "/users/7", header: http.Header{"Connection": {"close"}}}},
		{name: "DELETE", req: clientRequest{method: "DELETE", target: "/users/7"}},
		{name: "OPTIONS", req: clientRequest{method: "OPTIONS", target: "/users"},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Allow", "GET, POST, OPTIONS")
				w.WriteHeader(http.StatusNoContent)
			}}},
		{name: "HEAD", req: clientRequest{method: "HEAD", target: "/users/7"},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "31")
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Etag", `"v7"`)
			}}},
		{name: "POST 64 KiB body", req: clientRequest{method: "POST", target: "/blobs", body: big}},
		{name: "POST 64 KiB + 1 body", req: clientRequest{method: "POST", target: "/blobs", body: big + "!"}, viaRP: true},
		{name: "PUT 64 KiB body replayed after 502", retries: 1, req: clientRequest{method: "PUT", target: "/blobs/1", body: big},
			answers: []http.HandlerFunc{answerStatus(http.StatusBadGateway, "no backend"), answerJSON}},
		{name: "response hop-by-hop headers", req: clientRequest{method: "GET", target: "/users/7"},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				h := w.Header()
				h.Set("Connection", "X-Internal-Trace")
				h.Set("X-Internal-Trace", "span=9")
				h.Set("Keep-Alive", "timeout=5")
				h.Set("Proxy-Authenticate", `Basic realm="internal"`)
				h.Set("Proxy-Connection", "keep-alive")
				h.Set("Upgrade", "h2c")
				h.Set("Te", "trailers")
				answerJSON(w, nil)
			}},
			check: func(t *testing.T, _ []upstreamRequest, res responseView) {
				for _, k := range []string{"X-Internal-Trace", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Upgrade", "Te"} {
					if v, ok := res.Header[k]; ok {
						t.Errorf("client got %s: %q, want none", k, v)
					}
				}
			}},
		{name: "response header rules", route: resRules, req: clientRequest{method: "GET", target: "/users/7"},
			gw: gatewayRequest{header: http.Header{"Vary": {"Origin"}, "Access-Control-Allow-Origin": {"https://app.example.com"}}},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Vary", "Accept")
				w.Header().Add("Set-Cookie", "a=1; Path=/")
				w.Header().Add("Set-Cookie", "b=2; Path=/")
				answerJSON(w, r)
			}}},
		{name: "large response", req: clientRequest{method: "GET", target: "/blobs/1"},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", "204800")
				io.Copy(w, &pattern{left: 200 << 10})
			}}},
		{name: "chunked with trailers", req: clientRequest{method: "GET", target: "/export", header: http.Header{"Te": {"trailers"}}},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Trailer", "X-Checksum")
				w.Header().Set("Content-Type", "text/csv")
				io.WriteString(w, "id,name\n")
				w.(http.Flusher).Flush()
				io.WriteString(w, "42,Ada\n")
				w.Header().Set("X-Checksum", "sha256=abc")
				w.Header().Set(http.TrailerPrefix+"X-Rows", "1")
			}},
			check: func(t *testing.T, _ []upstreamRequest, res responseView) {
				if res.Trailer.Get("X-Checksum") != "sha256=abc" || res.Trailer.Get("X-Rows") != "1" {
					t.Errorf("client trailers = %v, want X-Checksum and X-Rows", res.Trailer)
				}
			}},
		{name: "204", req: clientRequest{method: "DELETE", target: "/sessions/1"}, answers: []http.HandlerFunc{answerStatus(http.StatusNoContent, "")}},
		{name: "304", req: clientRequest{method: "GET", target: "/users/7", header: http.Header{"If-None-Match": {`"v7"`}}},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Etag", `"v7"`)
				w.WriteHeader(http.StatusNotModified)
			}}},
		{name: "103 early hints", req: clientRequest{method: "GET", target: "/"},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</app.css>; rel=preload; as=style")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				answerJSON(w, r)
			}}},
		{name: "103 early hints with X-Request-Id echo and rate limit", req: clientRequest{method: "GET", target: "/"},
			gw: gatewayRequest{header: rateLimit},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</app.css>; rel=preload; as=style")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				w.Header().Set("X-Request-Id", "upstream-"+r.Header.Get("X-Request-Id"))
				w.Header().Set("Ratelimit-Limit", "5000")
				answerJSON(w, r)
			}}},
		{name: "event stream", req: clientRequest{method: "GET", target: "/events", header: http.Header{"Accept": {"text/event-stream"}}},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				w.Header().Set("Cache-Control", "no-cache")
				for _, ev := range []string{"data: one\n\n", "event: tick\ndata: two\n\n"} {
					io.WriteString(w, ev)
					w.(http.Flusher).Flush()
				}
			}}},
		{name: "X-Request-Id echoed by the upstream", req: clientRequest{method: "GET", target: "/users/7"},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
				w.Header().Add("X-Request-Id", "upstream-7")
				answerJSON(w, r)
			}},
			check: func(t *testing.T, _ []upstreamRequest, res responseView) {
				if got := res.Header["X-Request-Id"]; !cmp.Equal(got, []string{"gw-req-1"}) {
					t.Errorf("client X-Request-Id = %q, want the gateway's only", got)
				}
			}},
		{name: "RateLimit headers of the gateway win", req: clientRequest{method: "GET", target: "/users/7"}, gw: gatewayRequest{header: rateLimit},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Ratelimit-Limit", "5000")
				w.Header().Set("Ratelimit-Remaining", "4999")
				w.Header().Set("Ratelimit-Reset", "1")
				w.Header().Set("Ratelimit-Policy", "5000;w=3600")
				answerJSON(w, r)
			}},
			check: func(t *testing.T, _ []upstreamRequest, res responseView) {
				if got := res.Header["Ratelimit-Limit"]; !cmp.Equal(got, []string{"100"}) {
					t.Errorf("client RateLimit-Limit = %q, want the gateway's only", got)
				}
			}},
		{name: "RateLimit headers of the upstream without a limiter", req: clientRequest{method: "GET", target: "/users/7"},
			answers: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Ratelimit-Limit", "5000")
				w.Header().Set("Ratelimit-Remaining", "4999")
				answerJSON(w, r)
			}}},
		{name: "GET retried after 502", retries: 1, req: clientRequest{method: "GET", target: "/users/7", header: http.Header{"Accept": {"application/json"}}},
			answers: []http.HandlerFunc{answerStatus(http.StatusBadGateway, "no backend"), answerJSON},
			check: func(t *testing.T, reqs []upstreamRequest, res responseView) {
				if len(reqs) != 2 || res.Status != http.StatusOK {
					t.Errorf("%d upstream requests and status %d, want 2 and 200", len(reqs), res.Status)
				}
			}},
		{name: "POST not retried after 502", retries: 1, req: clientRequest{method: "POST", target: "/orders", body: `{"sku":"A-1"}`},
			answers: []http.HandlerFunc{answerStatus(http.StatusBadGateway, "no backend"), answerJSON}},
		{name: "GET 500 not retried", retries: 1, req: clientRequest{method: "GET", target: "/users/7"},
			answers: []http.HandlerFunc{answerStatus(http.StatusInternalServerError, `{"error":"boom"}`), answerJSON}},
	}
	// Over TLS, an upstream of protocol http1 takes the direct path too,
	// from a server that would choose h2 if offered.
	tlsOpts := opts
	tlsOpts.Transports = tlsTransports(t)
	for _, tt := range tests {
		for _, secure := range []bool{false, true} {
			name, opts := tt.name, opts
			if secure {
				name, opts = "https/"+name, tlsOpts
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				answers := tt.answers
				if len(answers) == 0 {
					answers = []http.HandlerFunc{answerJSON}
				}
				log := &requestLog{}
				var urls []string
				for i, a := range answers {
					if secure {
						urls = append(urls, recordingUpstreamTLS(t, log, i, a).URL)
					} else {
						urls = append(urls, recordingUpstream(t, log, i, a).URL)
					}
				}
				newUp := func() *config.Upstream {
					up := &config.Upstream{Retries: tt.retries}
					if secure {
						up.Protocol = config.ProtocolHTTP1
					}
					for _, u := range urls {
						up.Targets = append(up.Targets, &config.Target{URL: u, Weight: 1})
					}
					return up
				}
				hd, hrp := parityHandlers(t, newUp, tt.route, opts)

				type run struct {
					reqs []upstreamRequest
					res  responseView
					x    exchangeView
				}
				serve := func(h pipeline.Handler) run {
					gw, done := parityGateway(t, h, tt.gw)
					res := tt.req.do(t, client, gw.URL)
					var x exchangeView
					select {
					case x = <-done:
					case <-time.After(5 * time.Second):
						t.Fatal("the handler did not return")
					}
					return run{log.take(), res, x}
				}
				d, rp := serve(hd), serve(hrp)

				if d.x.Direct == tt.viaRP {
					t.Errorf("direct path applies = %v, want %v", d.x.Direct, !tt.viaRP)
				}
				if rp.x.Direct {
					t.Error("the handler without the direct path took it")
				}
				d.x.Direct, rp.x.Direct = false, false
				if diff := cmp.Diff(rp.reqs, d.reqs); diff != "" {
					t.Errorf("upstream requests differ (-reverseproxy +direct):\n%s", diff)
				}
				if diff := cmp.Diff(rp.res, d.res); diff != "" {
					t.Errorf("client responses differ (-reverseproxy +direct):\n%s", diff)
				}
				if diff := cmp.Diff(rp.x, d.x); diff != "" {
					t.Errorf("exchanges differ (-reverseproxy +direct):\n%s", diff)
				}
				if len(d.reqs) == 0 {
					t.Fatal("the upstream received nothing")
				}
				if tt.check != nil {
					tt.check(t, d.reqs, d.res)
				}
			})
		}
	}
}

// TestDirectFailureParity checks that both paths classify upstream failures
// the same way, before and after the response started.
func TestDirectFailureParity(t *testing.T) {
	t.Parallel()
	// hijack runs f on the upstream's raw connection once the request was
	// read, and closes it afterwards.
	hijack := func(f func(c net.Conn, brw *bufio.ReadWriter)) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			f(c, brw)
		}
	}
	reset := func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	partial := func(rst bool) http.HandlerFunc {
		return hijack(func(c net.Conn, brw *bufio.ReadWriter) {
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part of it")
			brw.Flush()
			if rst {
				reset(c)
			}
		})
	}
	tests := []struct {
		name    string
		method  string
		body    string
		timeout time.Duration // timeouts.response
		retries int
		// dead puts a target that refuses connections first.
		dead bool
		// answer is the upstream's; hang makes it wait for the client to
		// go (or the test to end), cancel cancels the client's request once
		// the upstream has it.
		answer http.HandlerFunc
		hang   bool
		cancel bool
		// cancelOnWrite cancels the client's request once the first body
		// bytes reached it.
		cancelOnWrite bool
		want          exchangeView
	}{
		{name: "closed without an answer", method: "GET",
			answer: hijack(func(net.Conn, *bufio.ReadWriter) {}),
			want:   exchangeView{Attempts: 1, Status: http.StatusBadGateway, Err: true, ErrStatus: http.StatusBadGateway}},
		{name: "reset without an answer", method: "POST", body: `{"sku":"A-1"}`,
			answer: hijack(func(c net.Conn, _ *bufio.ReadWriter) { reset(c) }),
			want:   exchangeView{Attempts: 1, Status: http.StatusBadGateway, Err: true, ErrStatus: http.StatusBadGateway}},
		{name: "garbage answer", method: "GET",
			answer: hijack(func(_ net.Conn, brw *bufio.ReadWriter) { brw.WriteString("SSH-2.0-OpenSSH_9.6\r\n\r\n"); brw.Flush() }),
			want:   exchangeView{Attempts: 1, Status: http.StatusBadGateway, Err: true, ErrStatus: http.StatusBadGateway}},
		{name: "response timeout", method: "GET", timeout: 100 * time.Millisecond, hang: true,
			want: exchangeView{Attempts: 1, Status: http.StatusGatewayTimeout, Err: true, ErrStatus: http.StatusGatewayTimeout}},
		{name: "client canceled", method: "GET", hang: true, cancel: true,
			want: exchangeView{Attempts: 1, Status: pipeline.StatusClientClosed, Err: true, ErrStatus: pipeline.StatusClientClosed}},
		{name: "closed mid-body", method: "GET", answer: partial(false),
			want: exchangeView{Attempts: 1, Status: http.StatusOK, Err: true, Aborted: true}},
		{name: "reset mid-body", method: "GET", answer: partial(true),
			want: exchangeView{Attempts: 1, Status: http.StatusOK, Err: true, Aborted: true}},
		{name: "client canceled mid-body", method: "GET", cancelOnWrite: true,
			answer: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "data: one\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			},
			want: exchangeView{Attempts: 1, Status: pipeline.StatusClientClosed, Err: true, Aborted: true}},
		{name: "refused, then retried", method: "GET", retries: 1, dead: true, answer: answerJSON,
			want: exchangeView{Attempts: 2, Status: http.StatusOK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			arrived := make(chan struct{}, 2)
			answer := tt.answer
			if tt.hang {
				answer = func(w http.ResponseWriter, r *http.Request) {
					arrived <- struct{}{}
					select {
					case <-r.Context().Done():
					case <-time.After(10 * time.Second):
					}
				}
			}
			up := newUpstream(t, answer)
			var urls []string
			if tt.dead {
				urls = append(urls, deadURL(t))
			}
			urls = append(urls, up.URL)
			newUp := func() *config.Upstream {
				c := &config.Upstream{Retries: tt.retries, Timeouts: config.Timeouts{Response: config.Duration(tt.timeout)}}
				for _, u := range urls {
					c.Targets = append(c.Targets, &config.Target{URL: u, Weight: 1})
				}
				return c
			}
			hd, hrp := parityHandlers(t, newUp, nil, Options{})
			type run struct {
				x   exchangeView
				rec *httptest.ResponseRecorder
			}
			serve := func(h pipeline.Handler) run {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
				}
				r := httptest.NewRequestWithContext(ctx, tt.method, "/orders", body)
				if tt.cancel {
					go func() {
						select {
						case <-arrived:
							cancel()
						case <-ctx.Done():
						}
					}()
				}
				x := &pipeline.Exchange{ID: "gw-req-1", ClientIP: "192.0.2.10", Path: r.URL.Path}
				rec := newRecorder()
				var w http.ResponseWriter = rec
				if tt.cancelOnWrite {
					w = &cancelingWriter{rec, cancel}
				}
				err := serveGateway(h, w, r.WithContext(ctx), x)
				v := viewExchange(h, r, x, err)
				if tt.hang && !tt.cancel {
					<-arrived
				}
				return run{v, rec}
			}
			d, rp := serve(hd), serve(hrp)
			if !d.x.Direct {
				t.Error("the request did not qualify for the direct path")
			}
			d.x.Direct, rp.x.Direct = false, false
			if diff := cmp.Diff(rp.x, d.x); diff != "" {
				t.Errorf("exchanges differ (-reverseproxy +direct):\n%s", diff)
			}
			for _, r := range []struct {
				path string
				run  run
			}{{"direct", d}, {"reverseproxy", rp}} {
				want := tt.want
				want.Target, want.Direct = up.URL, false
				if diff := cmp.Diff(want, r.run.x); diff != "" {
					t.Errorf("%s exchange (-want +got):\n%s", r.path, diff)
				}
			}
			if d.rec.Code != rp.rec.Code || d.rec.Body.String() != rp.rec.Body.String() {
				t.Errorf("client saw %d %q via direct, %d %q via reverseproxy", d.rec.Code, d.rec.Body, rp.rec.Code, rp.rec.Body)
			}
		})
	}
}

// cancelingWriter cancels its request at the first body write, as a
// client that goes away mid-response.
type cancelingWriter struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (w *cancelingWriter) Write(p []byte) (int, error) {
	defer w.cancel()
	return w.ResponseRecorder.Write(p)
}

func (w *cancelingWriter) Unwrap() http.ResponseWriter { return w.ResponseRecorder }

// TestDirectStreamHeadersFlushed checks that a stream's response header
// reaches the client before its first event: ReverseProxy flushes it at
// once, and a client waiting for the 200 of an event stream must not wait
// for the upstream's first event.
func TestDirectStreamHeadersFlushed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string
	}{
		{"event stream", "text/event-stream"},
		{"unknown length", "application/x-ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			// Registered after the upstream's Close, so it runs before it.
			t.Cleanup(func() { close(release) })
			newUp := func() *config.Upstream {
				return &config.Upstream{Targets: []*config.Target{{URL: up.URL, Weight: 1}}}
			}
			hd, hrp := parityHandlers(t, newUp, nil, Options{})
			for _, p := range []struct {
				path string
				h    pipeline.Handler
			}{{"reverseproxy", hrp}, {"direct", hd}} {
				gw, _ := parityGateway(t, p.h, gatewayRequest{})
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				req, _ := http.NewRequestWithContext(ctx, "GET", gw.URL+"/events", nil)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("%s: the response header did not arrive while the upstream held the stream open: %v", p.path, err)
				} else {
					res.Body.Close()
				}
				cancel()
			}
		})
	}
}

// typicalHeaders is what a browser or an SDK sends with an API call.
var typicalHeaders = map[string]string{
	"Accept":           "application/json",
	"Accept-Encoding":  "gzip, deflate, br",
	"Accept-Language":  "en-GB,en;q=0.9",
	"Authorization":    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl",
	"Cache-Control":    "no-cache",
	"Cookie":           "session=7f3c9a; theme=dark",
	"Origin":           "https://app.example.com",
	"Referer":          "https://app.example.com/users",
	"User-Agent":       "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
	"X-Client-Version": "4.2.0",
}

// BenchmarkServeDirect and BenchmarkServeReverseProxy send the same GET,
// with typical client headers, to a loopback upstream answering 100 bytes;
// the difference is what the direct path saves. The upstream runs in the
// same process, so both include its allocations.
func BenchmarkServeDirect(b *testing.B) { benchmarkServe(b, true) }

func BenchmarkServeReverseProxy(b *testing.B) { benchmarkServe(b, false) }

func benchmarkServe(b *testing.B, direct bool) {
	body := bytes.Repeat([]byte("x"), 100)
	up := newUpstream(b, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100")
		w.Write(body)
	})
	h := newProxy(b, nil, nil, Options{}, up.URL)
	if !direct {
		h.(*handler).fast = nil
	}
	r := httptest.NewRequest("GET", "/users/42?expand=orders", nil)
	r.Host = "api.example.com"
	for k, v := range typicalHeaders {
		r.Header.Set(k, v)
	}
	x := &pipeline.Exchange{ID: "req-bench", Path: "/users/42", ClientIP: "192.0.2.10"}
	r = r.WithContext(pipeline.WithExchange(r.Context(), x))
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		if err := h.ServeHTTP(w, r); err != nil || w.code != http.StatusOK {
			b.Fatalf("ServeHTTP() = %d, %v", w.code, err)
		}
	}
}

// A route rule that sets Expect makes a request the HTTP/1.1 client does
// not take; it must still reach the upstream, through ReverseProxy, and
// not end as an error.
func TestDirectFallsBackWhenARuleSetsExpect(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	rt := &config.Route{RequestHeaders: &config.HeaderRules{Set: map[string]string{"Expect": "100-continue"}}}
	h := newProxy(t, nil, rt, Options{}, up.URL)
	// A real server in front: the upstream's 100 Continue is relayed as an
	// informational answer, which a ResponseRecorder would take as final.
	gw, done := startGateway(t, h)
	res, err := http.Post(gw.URL+"/orders", "application/json", strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if x := <-done; res.StatusCode != 200 || x.Err != nil {
		t.Fatalf("POST with an Expect rule = %d (%v); want 200 from the upstream", res.StatusCode, x.Err)
	}
	if s := decodeSeen(t, string(body)); s.Body != `{"n":1}` || s.Method != "POST" {
		t.Errorf("upstream saw %s with body %q", s.Method, s.Body)
	}
}
