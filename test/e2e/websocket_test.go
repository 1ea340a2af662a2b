package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
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
	ws, wsURL := newWSEcho(t)
	plain := testkit.NewEcho(t, "plain")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  chat: {targets: [{url: %q}]}
  plain: {targets: [{url: %q}]}
routes:
  - name: chat
    match: {path: /ws}
    upstream: chat
`, wsURL, plain.URL)))
	return g, ws, plain
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
// config reloads: messages arrive in order and the connection survives.
func TestWebSocketThroughReloads(t *testing.T) {
	g, ws, plain := wsGateway(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := dialWS(t, ctx, g)
	defer c.CloseNow()
	if got, _ := ws.upgrade.Load().(string); !strings.EqualFold(got, "websocket") {
		t.Fatalf("upstream handshake Upgrade = %q, want websocket", got)
	}

	const total, batch = 1000, 10
	reloads := 0
	for start := 0; start < total; start += batch {
		if start > 0 && start%(total/4) == 0 {
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
	if reloads != 3 {
		t.Fatalf("%d reloads, want 3", reloads)
	}
	// The reloads took effect while the connection stayed up.
	if r := get(t, g.URL+"/extra3"); r.Status != http.StatusOK || r.Header.Get("X-Upstream") != "plain" {
		t.Fatalf("GET /extra3 after reloads = %d from %q", r.Status, r.Header.Get("X-Upstream"))
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
