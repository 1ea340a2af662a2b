package conformance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// answerFields answers every request with a header written byte by byte:
// end-to-end fields (Vary twice, in two cases), an echoed X-Request-ID,
// RateLimit-* of its own, and every hop-by-hop field; under /plain/conn/
// and /limited/conn/ also a Connection field naming X-Hop, which makes the
// gateway's HTTP/1.1 client read the header as a map rather than a list.
func answerFields(r *upRequest) action {
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
		"X-Request-Id: upstream-echo\r\n" +
		"Ratelimit-Limit: 5000\r\nratelimit-remaining: 4999\r\nRatelimit-Reset: 9\r\n" +
		"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n" +
		"Proxy-Authenticate: Basic\r\nTe: trailers\r\n" +
		"Vary: Accept\r\nvary: Origin\r\nX-Custom: kept\r\n"
	if strings.HasPrefix(r.URI, "/plain/conn/") || strings.HasPrefix(r.URI, "/limited/conn/") {
		head += "Connection: x-hop, keep-alive\r\nX-Hop: dropped\r\n"
	}
	return action{bytes: []byte(head + "Content-Length: 2\r\n\r\nok")}
}

// TestUpstreamAnswerFields: what of an upstream's answer header reaches
// the client, on answers the HTTP/1.1 client reads as a list and as a map.
// The end-to-end fields arrive with their values in order; the hop-by-hop
// ones and those the answer's Connection names do not; X-Request-ID is the
// gateway's alone; RateLimit-* are the upstream's on a route without a
// limit and the gateway's alone on a rate-limited one.
func TestUpstreamAnswerFields(t *testing.T) {
	up := newScripted(t, answerFields)
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: plain
    match: {path_prefix: /plain}
    upstream: app
  - name: limited
    match: {path_prefix: /limited}
    upstream: app
    rate_limit: {requests: 1000, per: 1m}
`, up.URL()))
	gone := []string{"Keep-Alive", "Proxy-Connection", "Upgrade", "Proxy-Authenticate", "Te", "X-Hop"}
	for _, tt := range []struct {
		path    string
		limited bool
	}{
		{"/plain/list/1", false},
		{"/plain/conn/1", false},
		{"/limited/list/1", true},
		{"/limited/conn/1", true},
	} {
		t.Run(tt.path, func(t *testing.T) {
			res := get(g.Addr, tt.path, "X-Request-ID: req-fields-1")
			if len(res.Replies) != 1 || res.Replies[0].Status != 200 || string(res.Replies[0].Body) != "ok" {
				t.Fatalf("got %s, want one 200 with the body ok", res)
			}
			h := res.Replies[0].Header
			want := map[string]string{
				"Content-Type": "application/json", "Vary": "Accept|Origin", "X-Custom": "kept",
				"X-Request-Id": "req-fields-1",
			}
			if !tt.limited {
				want["Ratelimit-Limit"], want["Ratelimit-Remaining"], want["Ratelimit-Reset"] = "5000", "4999", "9"
			} else {
				want["Ratelimit-Limit"] = "1000"
			}
			for k, w := range want {
				if got := strings.Join(h[k], "|"); got != w {
					t.Errorf("%s = %q, want %q", k, got, w)
				}
			}
			if tt.limited {
				for _, k := range []string{"Ratelimit-Remaining", "Ratelimit-Reset"} {
					if v := h[k]; len(v) != 1 || v[0] == "4999" || v[0] == "9" {
						t.Errorf("%s = %q, want the gateway's one value", k, v)
					}
				}
			}
			for _, k := range gone {
				if v, ok := h[k]; ok {
					t.Errorf("%s reached the client: %q", k, v)
				}
			}
			if v := h["Connection"]; len(v) > 0 && !(len(v) == 1 && strings.EqualFold(v[0], "close")) {
				t.Errorf("Connection = %q, want at most the gateway's close", v)
			}
		})
	}
}
