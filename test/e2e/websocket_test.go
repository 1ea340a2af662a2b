package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// wsEcho is a WebSocket upstream that echoes every message and reports how
// each connection ended.
type wsEcho struct {
	accepted atomic.Int32
	messages atomic.Int64
	upgrade  atomic.Value // the Upgrade header of the last handshake
	ended    chan error   // one value per connection, when its read fails
}

func newWSEcho(t *testing.T) (*wsEcho, string) {
	t.Helper()
	e := &wsEcho{ended: make(chan error, 16)}
	srv := testkit.Upstream(t, e)
	return e, srv.URL
}

func (e *wsEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.upgrade.Store(r.Header.Get("Upgrade"))
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	e.accepted.Add(1)
	// The request context is not tied to the hijacked connection; the
	// connection itself says when it ends.
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			e.ended <- err
			return
		}
		e.messages.Add(1)
		if err := c.Write(ctx, typ, msg); err != nil {
			e.ended <- err
			return
		}
	}
}

// waitEnded waits up to d for the upstream to see a connection end.
func (e *wsEcho) waitEnded(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-e.ended:
		return err
	case <-time.After(d):
		t.Fatalf("upstream did not observe the client's close within %v", d)
		return nil
	}
}

func wsGateway(t *testing.T) (*testkit.Gantry, *wsEcho, *testkit.Echo) {
	t.Helper()
	return wsGatewayWith(t, "", "")
}

// wsGatewayWith is wsGateway with extra lines in the server section and in
// the chat route (each indented to fit).
func wsGatewayWith(t *testing.T, server, route string) (*testkit.Gantry, *wsEcho, *testkit.Echo) {
	t.Helper()
	ws, wsURL := newWSEcho(t)
	plain := testkit.NewEcho(t, "plain")
	g := testkit.Start(t, baseWith(server, fmt.Sprintf(`upstreams:
  chat: {targets: [{url: %q}]}
  plain: {targets: [{url: %q}]}
routes:
  - name: chat
    match: {path: /ws}
    upstream: chat
%s`, wsURL, plain.URL, route)))
	return g, ws, plain
}

// wsMetrics returns the gateway's gantry_websocket_* samples, by series.
func wsMetrics(t *testing.T, g *testkit.Gantry) map[string]string {
	t.Helper()
	status, body := g.Admin("GET", "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics = %d", status)
	}
	out := map[string]string{}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "gantry_websocket_") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			out[k] = v
		}
	}
	return out
}

// waitWSMetric polls /metrics until series has the value want.
func waitWSMetric(t *testing.T, g *testkit.Gantry, series, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := wsMetrics(t, g)[series]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q after 10s, want %s", series, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// echoN sends n messages on c and reads their echoes.
func echoN(t *testing.T, ctx context.Context, c *websocket.Conn, n int) {
	t.Helper()
	for i := range n {
		want := fmt.Sprintf("message %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(want)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != want {
			t.Fatalf("echo %d = %q, %v; want %q", i, got, err, want)
		}
	}
}

// closedByGateway reads from c until the gateway ends the connection and
// returns the close status the client saw.
func closedByGateway(t *testing.T, ctx context.Context, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the gateway did not close the connection")
			}
			return websocket.CloseStatus(err)
		}
	}
}

func dialWS(t *testing.T, ctx context.Context, g *testkit.Gantry) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(g.URL, "http") + "/ws"
	c, resp, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d", resp.StatusCode)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("handshake response has no X-Request-ID")
	}
	return c
}

// TestWebSocketThroughReloads keeps one WebSocket connection open across
// five config reloads while 10,000 messages go through: they arrive in
// order, the connection survives, and /metrics counts every message both
// ways.
func TestWebSocketThroughReloads(t *testing.T) {
	g, ws, plain := wsGateway(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := dialWS(t, ctx, g)
	defer c.CloseNow()
	if got, _ := ws.upgrade.Load().(string); !strings.EqualFold(got, "websocket") {
		t.Fatalf("upstream handshake Upgrade = %q, want websocket", got)
	}

	const total, batch = 10_000, 10
	reloads := 0
	for start := 0; start < total; start += batch {
		if start%2000 == 1000 {
			reloads++
			name := fmt.Sprintf("extra%d", reloads)
			rewriteConfig(t, g.ConfigPath, "routes:\n", fmt.Sprintf("routes:\n  - name: %s\n    match: {path: /%s}\n    upstream: plain\n", name, name))
			if status, body := g.Admin("POST", "/admin/reload", ""); status != http.StatusOK {
				t.Fatalf("reload %d = %d %s", reloads, status, body)
			}
		}
		// Several messages in flight at once, so order is really tested.
		for i := start; i < start+batch; i++ {
			if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "message %04d", i)); err != nil {
				t.Fatalf("write %d (after %d reloads): %v", i, reloads, err)
			}
		}
		for i := start; i < start+batch; i++ {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read %d (after %d reloads): %v", i, reloads, err)
			}
			if want := fmt.Sprintf("message %04d", i); typ != websocket.MessageText || string(msg) != want {
				t.Fatalf("message %d = %v %q, want text %q", i, typ, msg, want)
			}
		}
	}
	if reloads != 5 {
		t.Fatalf("%d reloads, want 5", reloads)
	}
	// The reloads took effect while the connection stayed up.
	if r := get(t, g.URL+"/extra5"); r.Status != http.StatusOK || r.Header.Get("X-Upstream") != "plain" {
		t.Fatalf("GET /extra5 after reloads = %d from %q", r.Status, r.Header.Get("X-Upstream"))
	}
	m := wsMetrics(t, g)
	for series, want := range map[string]string{
		`gantry_websocket_connections{route="chat"}`:                    "1",
		`gantry_websocket_messages_total{direction="in",route="chat"}`:  fmt.Sprint(total),
		`gantry_websocket_messages_total{direction="out",route="chat"}`: fmt.Sprint(total),
	} {
		if m[series] != want {
			t.Errorf("%s = %q, want %s", series, m[series], want)
		}
	}
	if n := ws.accepted.Load(); n != 1 {
		t.Fatalf("upstream accepted %d connections, want 1", n)
	}
	if n := ws.messages.Load(); n != total {
		t.Fatalf("upstream received %d messages, want %d", n, total)
	}

	closing := time.Now()
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	err := ws.waitEnded(t, 2*time.Second)
	if got := websocket.CloseStatus(err); got != websocket.StatusNormalClosure {
		t.Fatalf("upstream saw %v (close status %d), want the client's normal closure", err, got)
	}
	if d := time.Since(closing); d > 2*time.Second {
		t.Fatalf("close took %v", d)
	}
	if n := plain.Count(); n != 1 {
		t.Fatalf("plain upstream saw %d requests, want 1", n)
	}
	waitWSMetric(t, g, `gantry_websocket_closed_total{reason="client_closed",route="chat"}`, "1")
	waitWSMetric(t, g, `gantry_websocket_connections{route="chat"}`, "0")
}

// TestWebSocketClientVanishes drops the client's TCP connection without a
// close handshake: the gateway must not keep the upstream side open.
func TestWebSocketClientVanishes(t *testing.T) {
	g, ws, _ := wsGateway(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := dialWS(t, ctx, g)
	if err := c.Write(ctx, websocket.MessageBinary, []byte{0, 1, 2, 0xff}); err != nil {
		t.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(msg) != "\x00\x01\x02\xff" {
		t.Fatalf("echo = %v %q %v", typ, msg, err)
	}
	c.CloseNow()
	err = ws.waitEnded(t, 2*time.Second)
	if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
		t.Fatalf("upstream saw a normal closure %v; the client sent none", err)
	}
}

// TestWebSocketLimits lets the gateway end connections at the route's
// limits: the client gets a close frame 1001, the upstream sees its
// connection closed, and /metrics says why.
func TestWebSocketLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, route, reason string
		// busy keeps the client sending until the end.
		busy    bool
		atLeast time.Duration
	}{
		{"idle timeout", "    websocket: {idle_timeout: 300ms}\n", "idle_timeout", false, 300 * time.Millisecond},
		// idle_timeout 0 turns the idle limit off: only the lifetime acts.
		{"max lifetime", "    websocket: {idle_timeout: 0, max_lifetime: 1s}\n", "max_lifetime", false, time.Second},
		{"max lifetime while busy", "    websocket: {max_lifetime: 1s}\n", "max_lifetime", true, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, ws, _ := wsGatewayWith(t, "", tt.route)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			c := dialWS(t, ctx, g)
			defer c.CloseNow()
			echoN(t, ctx, c, 3)
			var status websocket.StatusCode
			if tt.busy {
				for {
					err := c.Write(ctx, websocket.MessageText, []byte("still here"))
					if err == nil {
						_, _, err = c.Read(ctx)
					}
					if err != nil {
						if ctx.Err() != nil {
							t.Fatal("the gateway did not close the connection")
						}
						status = websocket.CloseStatus(err)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			} else {
				status = closedByGateway(t, ctx, c)
			}
			if status != websocket.StatusGoingAway {
				t.Errorf("client saw close status %d, want 1001 (going away)", status)
			}
			if d := time.Since(start); d < tt.atLeast {
				t.Errorf("closed after %v, before the limit %v", d, tt.atLeast)
			}
			// The upstream gets a close frame too, not a bare TCP close
			// (which it would record as 1006, abnormal closure).
			if err := ws.waitEnded(t, 5*time.Second); err == nil {
				t.Error("the upstream's connection did not end")
			} else if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
				t.Errorf("upstream's connection ended with %v (status %d), want 1001 (going away)", err, got)
			}
			waitWSMetric(t, g, fmt.Sprintf(`gantry_websocket_closed_total{reason=%q,route="chat"}`, tt.reason), "1")
			waitWSMetric(t, g, `gantry_websocket_connections{route="chat"}`, "0")
		})
	}
}

// TestWebSocketShutdownGrace stops the gateway with a WebSocket open: the
// connection keeps working through the shutdown grace, then the client gets
// a close frame 1001 and the process exits.
func TestWebSocketShutdownGrace(t *testing.T) {
	t.Parallel()
	// Long enough that the echoes below end inside it even on a loaded
	// machine (with 2s, a busy CI run once saw the grace end first).
	const grace = 4 * time.Second
	g, ws, _ := wsGatewayWith(t, "  shutdown_grace: 4s", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := dialWS(t, ctx, g)
	defer c.CloseNow()
	echoN(t, ctx, c, 1)
	stopped := time.Now()
	g.Signal(syscall.SIGTERM)
	// Still served while the grace lasts.
	echoN(t, ctx, c, 3)
	if status := closedByGateway(t, ctx, c); status != websocket.StatusGoingAway {
		t.Errorf("client saw close status %d, want 1001 (going away)", status)
	}
	if d := time.Since(stopped); d < grace*9/10 {
		t.Errorf("closed %v after SIGTERM, before the %v grace ended", d, grace)
	}
	if err := ws.waitEnded(t, 5*time.Second); err == nil {
		t.Error("the upstream's connection did not end")
	}
	if code := g.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestWebSocketRouteRemoved reloads a config without the WebSocket's route:
// the connection is closed with 1001, while a route that stays keeps its
// connections.
func TestWebSocketRouteRemoved(t *testing.T) {
	t.Parallel()
	g, ws, _ := wsGatewayWith(t, "", "  - name: feed\n    match: {path: /feed}\n    upstream: chat\n")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	chat := dialWS(t, ctx, g)
	defer chat.CloseNow()
	feed, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL, "http")+"/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.CloseNow()
	echoN(t, ctx, chat, 1)
	echoN(t, ctx, feed, 1)
	rewriteConfig(t, g.ConfigPath, "  - name: feed\n", "  - name: news\n")
	if status, body := g.Admin("POST", "/admin/reload", ""); status != http.StatusOK {
		t.Fatalf("reload = %d %s", status, body)
	}
	if status := closedByGateway(t, ctx, feed); status != websocket.StatusGoingAway {
		t.Errorf("the removed route's client saw close status %d, want 1001", status)
	}
	if err := ws.waitEnded(t, 5*time.Second); err == nil {
		t.Error("the upstream's connection did not end")
	}
	echoN(t, ctx, chat, 3)
	waitWSMetric(t, g, `gantry_websocket_closed_total{reason="route_removed",route="feed"}`, "1")
}
