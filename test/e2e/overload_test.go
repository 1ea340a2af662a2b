package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// keepAliveGET sends one GET on c and reads its answer, leaving c open.
func keepAliveGET(c net.Conn, br *bufio.Reader, path string) (*http.Response, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gantry.test\r\n\r\n", path); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// TestMaxConnections: with max_connections: 5 and five connections open,
// a sixth is closed at once, before any answer; once the five close,
// connections are served again.
func TestMaxConnections(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, baseWith("  limits: {max_connections: 5}", fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, e.URL)))
	var open []net.Conn
	for i := range 5 {
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// An answer proves the gateway took the connection.
		if resp, err := keepAliveGET(c, bufio.NewReader(c), "/held"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d within the bound: %v %v, want 200", i+1, resp, err)
		}
		open = append(open, c)
	}
	if got := metric(t, g, `gantry_connections_open{listener="client"}`); got != 5 {
		t.Errorf(`gantry_connections_open{listener="client"} = %v with five open, want 5`, got)
	}
	before := e.Count()
	for i := range 3 {
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			continue // reset before connect returned: refused all the same
		}
		resp, err := keepAliveGET(c, bufio.NewReader(c), "/sixth")
		c.Close()
		if err == nil {
			t.Fatalf("connection %d beyond the bound got an answer %d, want it closed", 6+i, resp.StatusCode)
		}
		if !testkit.IsClosed(err) {
			t.Fatalf("connection %d beyond the bound hung (%v), want it closed at once", 6+i, err)
		}
	}
	if n := e.Count() - before; n != 0 {
		t.Errorf("upstream saw %d requests from connections beyond the bound", n)
	}
	if got := metric(t, g, "gantry_connections_rejected_total"); got < 1 {
		t.Errorf("gantry_connections_rejected_total = %v, want at least 1", got)
	}
	for _, c := range open {
		c.Close()
	}
	// The gateway sees the closes asynchronously: poll.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", g.Addr)
		if err == nil {
			resp, err := keepAliveGET(c, bufio.NewReader(c), "/again")
			c.Close()
			if err == nil && resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served within 5s after the five closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMaxConcurrentRequests: with max_concurrent_requests: 2 and two
// requests held by a slow upstream, a third is answered 503 overloaded with
// Retry-After: 1 and never reaches the upstream; HTTP/2 streams count as
// requests.
func TestMaxConcurrentRequests(t *testing.T) {
	var release atomic.Pointer[chan struct{}]
	var hits atomic.Int32
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/slow" {
			<-*release.Load()
		}
		w.Write([]byte("done"))
	}))
	g := testkit.Start(t, baseWith("  limits: {max_concurrent_requests: 2}", fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`, up.URL)))

	h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &p}}
	tests := []struct {
		name   string
		client *http.Client
		proto  int
	}{
		{"HTTP/1.1", h1, 1},
		{"HTTP/2 streams on one connection", h2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := make(chan struct{})
			release.Store(&held)
			hits.Store(0)
			var wg sync.WaitGroup
			codes := make(chan int, 2)
			for range 2 {
				wg.Go(func() {
					resp, err := tt.client.Get(g.URL + "/slow")
					if err != nil {
						t.Errorf("held request: %v", err)
						codes <- 0
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					codes <- resp.StatusCode
				})
			}
			deadline := time.Now().Add(5 * time.Second)
			for hits.Load() < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("upstream saw %d of the two held requests", hits.Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
			resp, err := tt.client.Get(g.URL + "/third")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := response{Status: resp.StatusCode, Header: resp.Header, Body: body}
			if resp.ProtoMajor != tt.proto {
				t.Errorf("answered over HTTP/%d, want HTTP/%d", resp.ProtoMajor, tt.proto)
			}
			if r.Status != 503 || r.gwError(t).Error != "overloaded" || r.Header.Get("Retry-After") != "1" {
				t.Errorf("third request = %d %s Retry-After %q, want 503 overloaded with Retry-After: 1", r.Status, r.Body, r.Header.Get("Retry-After"))
			}
			if n := hits.Load(); n != 2 {
				t.Errorf("upstream saw %d requests, want 2 (the third must not reach it)", n)
			}
			close(held)
			wg.Wait()
			close(codes)
			for c := range codes {
				if c != 200 {
					t.Errorf("held request = %d, want 200", c)
				}
			}
			resp, err = tt.client.Get(g.URL + "/after")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("request after the held ones = %d, want 200", resp.StatusCode)
			}
		})
	}
	if got := metric(t, g, "gantry_requests_shed_total"); got != 2 {
		t.Errorf("gantry_requests_shed_total = %v, want 2", got)
	}
}
