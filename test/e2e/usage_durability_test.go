package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/storetest"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// tcpProxy forwards a loopback port to a target address and can be cut,
// like a network outage, and restored on the same port.
type tcpProxy struct {
	t      *testing.T
	target string
	Addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: target, Addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	go func() {
		io.Copy(up, c)
		up.Close()
	}()
	io.Copy(c, up)
	c.Close()
}

// track registers a connection pair; false (both closed) when the proxy
// was cut meanwhile.
func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// cut closes the listener and every connection: new connections are
// refused and open ones reset.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens on the same port again.
func (p *tcpProxy) restore() {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.Addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("relisten on %s: %v", p.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pgAddr returns the host:port of a postgres:// URL.
func pgAddr(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("want a postgres:// URL in %s, got %q (%v)", storetest.EnvPostgresDSN, dsn, err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432")
	}
	return u.Host
}

// viaProxy returns the postgres:// URL dsn with its host:port replaced by
// addr.
func viaProxy(t *testing.T, dsn, addr string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// waitReady polls /readyz until it answers want.
func waitReady(t *testing.T, g *testkit.Gantry, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, body := g.Admin("GET", "/readyz", "")
		if status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %s, want %d within %v", status, body, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUsageSurvivesStorageOutage: PostgreSQL becomes unreachable for five
// seconds while requests flow. The gateway keeps serving the consumer it
// has cached, keeps counting in memory, and writes every count once
// storage is back: the ledger ends with exactly the requests sent.
func TestUsageSurvivesStorageOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seven seconds")
	}
	dsn := storetest.PostgresDSN(t)
	proxy := newTCPProxy(t, pgAddr(t, dsn))
	g := testkit.Start(t, meteredConfig(fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", viaProxy(t, dsn, proxy.Addr)), meteredUpstream(t)))

	// One client sends steadily until told to stop; every answer must be 200.
	stop := make(chan struct{})
	result := make(chan error, 1)
	var sent int64
	go func() {
		for {
			select {
			case <-stop:
				result <- nil
				return
			default:
			}
			req, _ := http.NewRequest("GET", g.URL+"/api/ok", nil)
			req.Header.Set("X-API-Key", "acme-key-0123456789")
			resp, err := client.Do(req)
			if err != nil {
				result <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				result <- fmt.Errorf("request %d: status %d", sent+1, resp.StatusCode)
				return
			}
			sent++
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	proxy.cut()
	// The node serves on, so /readyz stays 200 and lists what is degraded:
	// the storage at once, usage once a write has failed.
	notReady := func(code int, b readyBody) {
		if code != 200 {
			t.Fatalf("/readyz during the storage outage = %d %+v, want 200", code, b)
		}
	}
	waitReadyz(t, g, 3*time.Second, "postgres storage degraded",
		func(_ int, b readyBody) bool { return b.degraded("postgres", "storage") }, notReady)
	time.Sleep(5 * time.Second)
	if code, b := mustReadyz(t, g); code != 200 || !b.degraded("postgres", "usage") {
		t.Errorf("/readyz after 5 s of storage outage = %d %+v, want 200 with usage degraded", code, b)
	}
	proxy.restore()
	waitReadyz(t, g, 5*time.Second, "nothing degraded once storage is back",
		func(code int, b readyBody) bool { return code == 200 && len(b.Degraded) == 0 }, notReady)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	if err := <-result; err != nil {
		t.Fatalf("while storage was away: %v", err)
	}
	if !strings.Contains(g.Stderr(), "usage cannot be written to storage") {
		t.Errorf("no log line says usage could not be written: the outage went unseen")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sum, _ := usageTotal(t, g, "acme", "day")
		if sum.Requests == sent && sum.Billable == sent {
			break
		}
		if sum.Requests > sent || time.Now().After(deadline) {
			t.Fatalf("ledger %+v, want %d requests, all billable", sum, sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Later flushes rewrite the same totals: nothing is counted twice.
	time.Sleep(300 * time.Millisecond)
	if sum, _ := usageTotal(t, g, "acme", "day"); sum.Requests != sent {
		t.Fatalf("ledger %d requests after more flushes, want %d", sum.Requests, sent)
	}
	t.Logf("%d requests, five seconds of them without storage: all in the ledger", sent)
}

// TestUsageKillLosesAtMostOneFlush: kill -9 loses only what was counted
// since the last flush. Requests answered more than a couple of flush
// intervals before the kill are in the ledger, exactly; requests answered
// within the last interval before a kill may be lost (docs/usage.md,
// Durability), and are never counted twice.
func TestUsageKillLosesAtMostOneFlush(t *testing.T) {
	storage := fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db"))
	cfg := strings.Replace(meteredConfig(storage, meteredUpstream(t)), "flush_interval: 100ms", "flush_interval: 200ms", 1)
	key := "X-API-Key: acme-key-0123456789"
	send := func(g *testkit.Gantry, n int) {
		t.Helper()
		for i := range n {
			if s := get(t, g.URL+"/api/ok", key).Status; s != 200 {
				t.Fatalf("request %d: %d", i, s)
			}
		}
	}
	kill := func(g *testkit.Gantry) {
		t.Helper()
		g.Signal(syscall.SIGKILL)
		g.Wait(10 * time.Second)
		if g.Cmd.Process.Signal(syscall.Signal(0)) == nil {
			t.Fatal("gateway still running after SIGKILL")
		}
	}

	const n = 40
	g := testkit.Start(t, cfg)
	send(g, n)
	// Five flush intervals: at least two flushes ran after the last request.
	time.Sleep(time.Second)
	kill(g)
	g = testkit.StartFile(t, g.ConfigPath)
	if sum, _ := usageTotal(t, g, "acme", "day"); sum.Requests != n || sum.Billable != n {
		t.Fatalf("after kill -9: %+v, want exactly %d requests, all billable", sum, n)
	}

	// Requests in the last interval before a kill: at most those are lost.
	const m = 20
	send(g, m)
	kill(g)
	g = testkit.StartFile(t, g.ConfigPath)
	sum, _ := usageTotal(t, g, "acme", "day")
	if sum.Requests < n || sum.Requests > n+m {
		t.Fatalf("after a kill right after %d more requests: %d in the ledger, want %d to %d", m, sum.Requests, n, n+m)
	}
	t.Logf("a kill right after %d requests lost %d of them", m, n+m-sum.Requests)
}
