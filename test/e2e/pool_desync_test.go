package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// scriptedUpstream is a target written at the byte level: each request is
// answered with bodyFor(its path) as the body and the path in X-Tag, then
// extra(path)
// is written in the same write; late(path) is written a moment after, while
// the connection sits idle in the gateway's pool.
type scriptedUpstream struct {
	URL      string
	requests atomic.Int32
	extras   atomic.Int32
}

func newScriptedUpstream(t *testing.T, extra, late func(method, path string) string) *scriptedUpstream {
	t.Helper()
	u := &scriptedUpstream{}
	u.URL = rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			u.requests.Add(1)
			path := req.URL.Path
			body := bodyFor(path)
			out := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n", path, len(body))
			if req.Method != http.MethodHead {
				out += body
			}
			if extra != nil {
				if x := extra(req.Method, path); x != "" {
					out += x
					u.extras.Add(1)
				}
			}
			if _, err := io.WriteString(c, out); err != nil {
				return
			}
			if late != nil {
				if x := late(req.Method, path); x != "" {
					time.Sleep(10 * time.Millisecond)
					io.WriteString(c, x)
					u.extras.Add(1)
				}
			}
		}
	})
	return u
}

// bodyFor is the body of the answer to path: the path, and for one ending
// in /big, more than the gateway reads from a connection at once.
func bodyFor(path string) string {
	if strings.HasSuffix(path, "/big") {
		return path + strings.Repeat("b", 20000)
	}
	return path
}

const poison = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Tag: /poison\r\nContent-Length: 7\r\n\r\npoison!"

// TestPooledConnectionNeverAnswersAnother: an upstream that writes bytes
// after complete answers (a second answer nobody asked for, a body after
// HEAD) must not shift the answers of the next clients: three clients
// asking /a, /b and /c each get their own. The bytes arrive while the
// connection is idle in the gateway's pool, the case a check only of
// connections idle for over a second let through.
func TestPooledConnectionNeverAnswersAnother(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		first string // method of the request before the clients'
		late  string
	}{
		{"answer after the answer", "GET", poison},
		{"body after a HEAD answer", "HEAD", "/first"},
		{"garbage after the answer", "GET", "poison!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newScriptedUpstream(t, nil, func(method, path string) string {
				if path == "/first" {
					return tt.late
				}
				return ""
			})
			g := testkit.Start(t, oneRoute(t, up.URL, ""))
			if r := do(t, tt.first, g.URL+"/first", ""); r.Status != 200 {
				t.Fatalf("%s /first = %d, want 200", tt.first, r.Status)
			}
			// The late bytes reach the gateway's idle connection.
			time.Sleep(60 * time.Millisecond)
			for _, path := range []string{"/a", "/b", "/c"} {
				// A client of its own each, as three users would be.
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
				res, err := c.Get(g.URL + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				c.CloseIdleConnections()
				if res.StatusCode != 200 || string(body) != path || res.Header.Get("X-Tag") != path {
					t.Errorf("GET %s = %d %q (X-Tag %q), want 200 %q: an answer meant for another request", path, res.StatusCode, body, res.Header.Get("X-Tag"), path)
				}
			}
		})
	}
}

// TestTaggedLoadWithUnsolicitedBytes: 8 clients send 200 tagged requests
// each through the gateway to an upstream that follows some answers with
// bytes nobody asked for (a second answer, garbage, a body after HEAD, an
// answer after a body larger than the gateway's read buffer). Every answer
// must carry its own request's tag: zero mismatches.
func TestTaggedLoadWithUnsolicitedBytes(t *testing.T) {
	t.Parallel()
	up := newScriptedUpstream(t, func(method, path string) string {
		switch {
		case method == http.MethodHead:
			return path
		case strings.HasSuffix(path, "/big"):
			return poison
		case len(path)%5 == 0:
			return poison
		case len(path)%7 == 0:
			return "garbage"
		}
		return ""
	}, nil)
	g := testkit.Start(t, oneRoute(t, up.URL, ""))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer c.CloseIdleConnections()
	const workers, each = 8, 200
	var mismatches, failures atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				tag := fmt.Sprintf("/t/%d/%d/x%s", w, i, strings.Repeat("x", i%11))
				if i%17 == 0 {
					tag += "/big"
				}
				method := http.MethodGet
				if i%9 == 0 {
					method = http.MethodHead
				}
				req, _ := http.NewRequest(method, g.URL+tag, nil)
				res, err := c.Do(req)
				if err != nil {
					failures.Add(1)
					t.Errorf("%s %.40s: %v", method, tag, err)
					continue
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				switch {
				case err != nil || res.StatusCode != 200:
					failures.Add(1)
					t.Errorf("%s %.40s = %d, %v; want 200", method, tag, res.StatusCode, err)
				case res.Header.Get("X-Tag") != tag || (method == http.MethodGet && string(body) != bodyFor(tag)):
					mismatches.Add(1)
					t.Errorf("%s %.40s got the answer tagged %.40q (body %.40q)", method, tag, res.Header.Get("X-Tag"), body)
				}
			}
		}()
	}
	wg.Wait()
	if up.extras.Load() == 0 {
		t.Fatal("the upstream sent no unsolicited bytes")
	}
	t.Logf("%d requests, %d answers followed by unsolicited bytes, %d mismatches, %d failures",
		workers*each, up.extras.Load(), mismatches.Load(), failures.Load())
}
