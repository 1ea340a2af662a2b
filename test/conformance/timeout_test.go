package conformance

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// sources are the first aggregate call's answers, by path: the id a later
// call puts in its path.
var sources = map[string]string{
	"/src/ok":     `{"id":"u1"}`,
	"/src/dotdot": `{"id":".."}`,
	"/src/dot":    `{"id":"."}`,
	"/src/empty":  `{"id":""}`,
	"/src/slash":  `{"id":"a/b"}`,
}

func timeoutGateway(t *testing.T) *gateway {
	up := newScripted(t, func(r *upRequest) action {
		if body, ok := sources[r.URI]; ok {
			return action{bytes: jsonAnswer(body)}
		}
		return action{bytes: answer(r)}
	})
	// A port nothing listens on: connections to it are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
  limits:
    read_timeout: 300ms
upstreams:
  app:
    targets: [{url: %[1]q}]
    passive: {failures: 1, eject_for: 1s}
  pair:
    targets: [{url: %[2]q}, {url: %[1]q}]
    retries: 1
routes:
  - name: upload
    match: {path_prefix: /upload}
    upstream: app
  - name: pair
    match: {path_prefix: /pair}
    upstream: pair
  - name: agg
    match: {path: "/agg/{id}"}
    aggregate:
      calls:
        - {name: src, upstream: app, path: "/src/{id}"}
        - {name: profile, upstream: app, path: "/internal/users/{src.id}/profile"}
  - name: aggp
    match: {path: "/aggp/{id}"}
    aggregate:
      calls:
        - {name: user, upstream: app, path: "/users/{id}"}
`, up.URL(), dead))
	return &gateway{Gantry: g, up: up, upstream: "app"}
}

// TestTimeoutsAndAborts covers request bodies cut short (class 3), values
// leaving their path segment in aggregate templates (class 4) and requests
// that never reached a target (class 11).
func TestTimeoutsAndAborts(t *testing.T) {
	t.Parallel()
	g := timeoutGateway(t)
	head := func(p, h string) string {
		return "POST " + p + " HTTP/1.1\r\nHost: conformance.test\r\n" + h + "\r\n"
	}
	const nginxTimeout = "NGINX 1.22: client_body_timeout closes without a status line (logs 408)"
	slow := []tcase{
		{class: 3, name: "body stalls past read_timeout", send: head("/upload/stall", "Content-Length: 10\r\n") + "abc",
			want: "408|closed", never: []string{"2xx"}, code: "request_timeout", up: upWant{noComplete: true}, anchor: nginxTimeout},
		{class: 3, name: "chunked body stalls past read_timeout", send: head("/upload/stall-chunked", "Transfer-Encoding: chunked\r\n") + "3\r\nabc\r\n",
			want: "408|closed", never: []string{"2xx"}, code: "request_timeout", up: upWant{noComplete: true}, anchor: nginxTimeout},
		{class: 3, name: "body trickled past read_timeout", send: head("/upload/trickle", "Content-Length: 8\r\n"),
			opts: wireOpts{parts: trickle("abcdefgh", 100*time.Millisecond)},
			want: "408|closed", never: []string{"2xx"}, code: "request_timeout", up: upWant{noComplete: true}, anchor: nginxTimeout},
		{class: 3, name: "client closes mid-body", send: head("/upload/abort", "Content-Length: 100\r\n") + "abc",
			opts: wireOpts{abort: true}, up: upWant{noComplete: true}, check: g.recorded("/upload/abort", 400, 499),
			anchor: "NGINX 1.22: logs 400 (client prematurely closed connection), aborts the upstream request"},
		{class: 3, name: "whole body in time (control)", send: head("/upload/ok", "Content-Length: 3\r\nConnection: close\r\n") + "abc",
			want: "200", up: upWant{uri: "/upload/ok"}},
		{class: 3, name: "aggregate route: body stalls past read_timeout", send: head("/aggp/u1", "Content-Length: 10\r\n") + "abc",
			want: "408|closed", never: []string{"2xx"}, code: "request_timeout", up: upWant{nothing: true}, anchor: nginxTimeout},
		{class: 2, name: "aggregate route: broken chunked body", send: head("/aggp/u1", "Transfer-Encoding: chunked\r\n") + "3\nabc\r\n0\r\n\r\n",
			want: "400", never: []string{"2xx", "502"}, code: "bad_request", close: true, up: upWant{nothing: true},
			anchor: "NGINX 1.22: a location that answers without the body still discards it, and answers 400 to broken framing"},
		{class: 2, name: "aggregate route: body shorter than Content-Length, then half-close", send: head("/aggp/u1", "Content-Length: 10\r\n") + "abc",
			opts: wireOpts{halfClose: true}, want: "400|closed", never: []string{"2xx", "502"}, up: upWant{nothing: true}},
	}
	g.run(t, slow, true)

	get := func(p string) string {
		return "GET " + p + " HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n"
	}
	// received checks the exact set of targets the upstream got.
	received := func(want ...string) func(result, []*upRequest) string {
		return func(_ result, reqs []*upRequest) string {
			var got []string
			for _, r := range reqs {
				got = append(got, r.URI)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				return fmt.Sprintf("upstream received %q, want %q", got, want)
			}
			return ""
		}
	}
	failedCall := func(id string) tcase {
		return tcase{class: 4, name: "aggregate value " + strings.TrimSuffix(strings.TrimPrefix(sources["/src/"+id], `{"id":`), "}"), send: get("/agg/" + id),
			want: "502", code: "aggregate_failed", check: received("/src/" + id),
			anchor: "RFC 3986 §5.2.4: every server resolves dot segments, /internal/users/../profile is /internal/profile"}
	}
	agg := []tcase{
		{class: 4, name: "aggregate value u1 (control)", send: get("/agg/ok"), want: "200", check: received("/src/ok", "/internal/users/u1/profile")},
		failedCall("dotdot"),
		failedCall("dot"),
		failedCall("empty"),
		{class: 4, name: "aggregate value a/b", send: get("/agg/slash"), want: "200", check: received("/src/slash", "/internal/users/a%2Fb/profile")},
		{class: 4, name: "route parameter %252e is encoded once", send: get("/aggp/%252e"), want: "200", check: received("/users/%252e"),
			anchor: "docs/config.md: parameter values are decoded text"},
		{class: 4, name: "route parameter a%20b is encoded once", send: get("/aggp/a%20b"), want: "200|400", check: func(res result, reqs []*upRequest) string {
			if len(res.Replies) > 0 && res.Replies[0].Status == 400 {
				return "" // an encoded space may be refused everywhere (class 8)
			}
			return received("/users/a%20b")(res, reqs)
		}},
	}
	g.run(t, agg, false)

	// Class 11: a POST whose first target refuses the connection was never
	// written; it is safe to send to the other target, although POST is
	// not idempotent and the route does not set retry_non_idempotent.
	var pair []tcase
	for i := range 4 {
		pair = append(pair, tcase{class: 11, name: fmt.Sprintf("POST %d with one target refusing connections", i+1),
			send: head("/pair/x", "Content-Length: 3\r\nConnection: close\r\n") + "abc", want: "200", up: upWant{uri: "/pair/x"},
			anchor: "NGINX (proxy_next_upstream error) and Envoy (reset-before-request) retry a request not yet sent, whatever its method"})
	}
	g.run(t, pair, false)
}

// trickle sends s one byte per interval.
func trickle(s string, every time.Duration) []part {
	var ps []part
	for i := range len(s) {
		ps = append(ps, part{delay: every, bytes: s[i : i+1]})
	}
	return ps
}

// recorded checks the access log's status for path p against the
// statuses allowed: a client that closes mid-body sends a FIN the gateway
// cannot tell from a half-close, so a short body (400) and a client gone
// (499) are both its own error.
func (g *gateway) recorded(p string, statuses ...int) func(result, []*upRequest) string {
	return func(result, []*upRequest) string {
		deadline := time.Now().Add(2 * time.Second)
		got := -1
		for time.Now().Before(deadline) {
			for _, line := range strings.Split(g.Stdout(), "\n") {
				var e struct {
					Path   string `json:"path"`
					Status int    `json:"status"`
				}
				if json.Unmarshal([]byte(line), &e) == nil && e.Path == p {
					got = e.Status
				}
			}
			if got != -1 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, st := range statuses {
			if got == st {
				return ""
			}
		}
		return fmt.Sprintf("access log status for %s = %d, want one of %v", p, got, statuses)
	}
}
