package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// Upstreams close keep-alive connections whenever they like: after every
// answer without saying so, or when idle for longer than their timeout.
// The gateway must not turn either into a 502, whatever the method.
func TestUpstreamClosesKeepAliveConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, r.Method+" "+string(body))
	}))
	// A short idle timeout, as many application servers have (Node's
	// default is 5 s): the upstream closes the gateway's pooled
	// connections between requests.
	up.Config.IdleTimeout = 200 * time.Millisecond
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	g := testkit.Start(t, oneRoute(t, up.URL, ""))

	send := func(method, body string) {
		t.Helper()
		req, err := http.NewRequest(method, g.URL+"/items", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || string(got) != method+" "+body {
			t.Fatalf("%s after the upstream closed its idle connection = %d %q, want 200 %q", method, res.StatusCode, got, method+" "+body)
		}
	}
	send("GET", "")
	send("POST", `{"n":1}`)
	for _, m := range []string{"GET", "POST", "DELETE", "PUT"} {
		// Past the upstream's idle timeout: the gateway's check before
		// every reuse finds the connection closed.
		time.Sleep(1200 * time.Millisecond)
		body := ""
		if m == "POST" || m == "PUT" {
			body = `{"n":2}`
		}
		send(m, body)
	}
	// Idle for less than a second but past the upstream's timeout: a POST
	// cannot be sent again once written, and its connection is checked
	// first, as every reused connection is.
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		send("POST", `{"n":3}`)
	}
	if n := conns.Load(); n < 8 {
		t.Errorf("the upstream saw %d connections; the test did not exercise closed idle connections", n)
	}
}
