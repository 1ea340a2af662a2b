package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// droppingUpstream answers the first request on each connection with
// {"path": its path} and keep-alive, then reads the second and closes the
// connection without a byte of answer: every connection the gateway pools
// fails the next request sent on it, as one the upstream closed while it
// sat idle does.
type droppingUpstream struct {
	URL     string
	dropped atomic.Int32
}

func newDroppingUpstream(t *testing.T) *droppingUpstream {
	t.Helper()
	u := &droppingUpstream{}
	u.URL = rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for n := 0; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			if n == 1 {
				u.dropped.Add(1)
				return
			}
			body := fmt.Sprintf(`{"path":%q,"pad":%q}`, req.URL.Path, strings.Repeat("p", padFor(req.URL.Path)))
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	return u
}

// padFor is the padding of the answer to path: past the few hundred bytes
// an aggregate keeps in place for a call's answer, for the calls under
// /c/.
func padFor(path string) int {
	if strings.HasPrefix(path, "/c/") {
		return 600
	}
	return 0
}

// longSegment makes call c's path longer than the room an aggregate makes
// for a call's path.
var longSegment = strings.Repeat("s", 80)

// TestAggregateResendsOnAClosedPooledConnection: an aggregate's batch
// calls go out on pooled connections that the upstream then closes
// without answering. Each call is sent again on a new connection and
// lands in its own place: every answer is whole and carries its own
// call's path, never a neighbour's. Call c's path and answer are longer
// than the room the aggregate makes for them in place.
func TestAggregateResendsOnAClosedPooledConnection(t *testing.T) {
	t.Parallel()
	up := newDroppingUpstream(t)
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: board
    match: {path: "/board/{id}", methods: [GET]}
    aggregate:
      timeout: 5s
      calls:
        - {name: a, upstream: svc, path: "/a/{id}"}
        - {name: b, upstream: svc, path: "/b/{id}"}
        - {name: c, upstream: svc, path: "/c/{id}/%s"}
`, up.URL, longSegment)))

	const n = 12
	for i := range n {
		r := get(t, fmt.Sprintf("%s/board/%d", g.URL, i))
		if r.Status != 200 {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
		var got map[string]struct{ Path, Pad string }
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatalf("request %d: body %s: %v", i, r.Body, err)
		}
		for _, call := range []string{"a", "b", "c"} {
			want := fmt.Sprintf("/%s/%d", call, i)
			if call == "c" {
				want += "/" + longSegment
			}
			if got[call].Path != want {
				t.Errorf("request %d: call %s answered %q, want %q (body %s)", i, call, got[call].Path, want, r.Body)
			}
			if len(got[call].Pad) != padFor(want) {
				t.Errorf("request %d: call %s's answer carried %d bytes of padding, want %d", i, call, len(got[call].Pad), padFor(want))
			}
		}
	}
	// Every request after the first found the last one's connections in
	// the pool, so the resend is what the answers above went through.
	if d := up.dropped.Load(); d < n-1 {
		t.Fatalf("the upstream dropped %d requests, want at least %d: the calls did not go out on pooled connections", d, n-1)
	}
}
