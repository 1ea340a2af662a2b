package conformance

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestShutdownMidBody stops the gateway while a client is half-way through
// a request body (class 3): the client gets 503 or a closed connection,
// never a success for a request the upstream did not fully get.
func TestShutdownMidBody(t *testing.T) {
	t.Parallel()
	up := newScripted(t, nil)
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
  shutdown_grace: 1s
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: upload
    match: {path_prefix: /upload}
    upstream: app
`, up.URL()))
	gw := &gateway{Gantry: g, up: up, upstream: "app"}
	tc := tcase{class: 3, name: "shutdown while the body is half sent",
		send: "POST /upload/shutdown HTTP/1.1\r\nHost: conformance.test\r\nContent-Length: 10\r\n\r\nabc",
		opts: wireOpts{wait: 5 * time.Second}, want: "503|closed", never: []string{"2xx"}, up: upWant{noComplete: true},
		anchor: "NGINX 1.22: a graceful stop closes connections still reading a request without an answer"}
	go func() {
		time.Sleep(300 * time.Millisecond)
		g.Signal(syscall.SIGTERM)
	}()
	gw.runCase(t, tc, false)
}

// TestBalanceHealthyOnly takes one of three round-robin targets out (class
// 12): the two survivors share its traffic evenly.
func TestBalanceHealthyOnly(t *testing.T) {
	t.Parallel()
	a, b := newScripted(t, nil), newScripted(t, nil)
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
upstreams:
  app:
    targets: [{url: %q}, {url: %q}, {url: %q}]
    passive: {failures: 1, eject_for: 30s}
    retries: 1
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`, a.URL(), dead, b.URL()))
	gw := &gateway{Gantry: g, up: a, upstream: "app"}
	// Send until the dead target is found out and ejected.
	for i := 0; i < 10 && gw.targetStates(t)[dead] == "healthy"; i++ {
		get(g.Addr, "/warm")
	}
	if st := gw.targetStates(t)[dead]; st == "healthy" {
		t.Fatalf("the dead target %s is still %s", dead, st)
	}
	a.reset()
	b.reset()
	const n = 60
	ok := 0
	for i := range n {
		if res := get(g.Addr, fmt.Sprintf("/spread/%d", i)); len(res.Replies) > 0 && res.Replies[0].Status == 200 {
			ok++
		}
	}
	ra, _ := a.requests()
	rb, _ := b.requests()
	t.Logf("%2d | %s | %s | %d of %d answered 200 | first survivor %d, second survivor %d | anchor: %s", 12, "one of three round-robin targets out",
		quote(fmt.Sprintf("%d GETs", n)), ok, n, len(ra), len(rb), "NGINX and Envoy skip failed peers inside the weighted rotation, so survivors share evenly")
	if ok != n {
		t.Errorf("%d of %d requests failed", n-ok, n)
	}
	for _, got := range []int{len(ra), len(rb)} {
		if got < n*2/5 || got > n*3/5 {
			t.Errorf("survivors got %d and %d of %d requests, want an even share (40%% to 60%% each)", len(ra), len(rb), n)
			break
		}
	}
}

// TestOverloadSheds caps concurrent requests (class 12): beyond
// server.limits.max_concurrent_requests the answer is 503 overloaded with
// Retry-After, and the upstream never sees more than the cap.
func TestOverloadSheds(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	inFlight, peak := 0, 0
	up := newScripted(t, func(r *upRequest) action {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(400 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return action{bytes: answer(r)}
	})
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
  limits:
    max_concurrent_requests: 2
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`, up.URL()))
	const clients = 6
	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { results[i] = get(g.Addr, fmt.Sprintf("/held/%d", i)) })
	}
	wg.Wait()
	ok, shed := 0, 0
	var problems []string
	for _, res := range results {
		if len(res.Replies) == 0 {
			problems = append(problems, "a request got no answer: "+res.String())
			continue
		}
		switch rp := res.Replies[0]; {
		case rp.Status == 200:
			ok++
		case rp.Status == 503 && rp.Code == "overloaded" && rp.Header.Get("Retry-After") == "1":
			shed++
		default:
			problems = append(problems, fmt.Sprintf("unexpected answer %d %q (Retry-After %q)", rp.Status, rp.Code, rp.Header.Get("Retry-After")))
		}
	}
	mu.Lock()
	p := peak
	mu.Unlock()
	t.Logf("%2d | %s | %s | %d answered 200, %d shed with 503 overloaded | at most %d at once | anchor: %s", 12, "max_concurrent_requests: 2",
		quote(fmt.Sprintf("%d concurrent GETs held 400ms upstream", clients)), ok, shed, p, "Envoy's overload manager and NGINX limit_conn shed beyond a cap with 503")
	for _, pr := range problems {
		t.Error(pr)
	}
	if shed == 0 || p > 2 {
		t.Errorf("%d admitted, %d shed, %d at once upstream: want at most 2 at once upstream and the rest shed", ok, shed, p)
	}
}
