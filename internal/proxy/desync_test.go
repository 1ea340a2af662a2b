package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestUnsolicitedBytesThroughBothPaths: a target that writes an answer
// nobody asked for while the connection is idle must not shift the answers
// of later requests, on the direct path (the gateway's HTTP/1.1 client,
// which checks every reused connection) as on ReverseProxy with net/http's
// Transport (which reads idle connections and closes them on any byte).
func TestUnsolicitedBytesThroughBothPaths(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"direct", "net/http"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			sent := make(chan struct{}, 1)
			var first atomic.Bool
			rt := newRawTarget(t, func(_ *rawTarget, c net.Conn) {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					p := req.URL.Path
					if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(p), p); err != nil {
						return
					}
					if first.CompareAndSwap(false, true) {
						time.Sleep(20 * time.Millisecond)
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\npoison!")
						sent <- struct{}{}
					}
				}
			})
			h, _ := newRetryProxy(t, &config.Upstream{}, nil, rt.url())
			if path == "net/http" {
				hh := h.(*handler)
				hh.fast = nil
				hh.rp.Transport = NewTransports().Get(0, 0).Std
			}
			get := func(p string) string {
				rec, err := call(h, httptest.NewRequest("GET", p, nil), &pipeline.Exchange{Path: p})
				if err != nil {
					t.Fatalf("GET %s: %v", p, err)
				}
				return rec.Body.String()
			}
			if got := get("/first"); got != "/first" {
				t.Fatalf("GET /first = %q", got)
			}
			select {
			case <-sent:
			case <-time.After(5 * time.Second):
				t.Fatal("the target sent no unsolicited answer")
			}
			time.Sleep(20 * time.Millisecond)
			for _, p := range []string{"/a", "/b", "/c"} {
				if got := get(p); got != p {
					t.Errorf("GET %s = %q, want its own answer", p, got)
				}
			}
		})
	}
}
