package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// wsUpstream is a WebSocket upstream that echoes every message, except
// "bye", which it answers by closing the connection normally. ended gets
// one value per connection: the error that ended its read loop.
type wsUpstream struct {
	URL   string
	ended chan error
	count atomic.Int64
}

func newWSUpstream(tb testing.TB) *wsUpstream {
	tb.Helper()
	u := &wsUpstream{ended: make(chan error, 16)}
	u.URL = newUpstream(tb, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// The request context does not follow a hijacked connection.
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				u.ended <- err
				return
			}
			u.count.Add(1)
			if string(msg) == "bye" {
				u.ended <- c.Close(websocket.StatusNormalClosure, "bye")
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				u.ended <- err
				return
			}
		}
	}).URL
	return u
}

// waitEnded returns how the upstream's connection ended.
func (u *wsUpstream) waitEnded(t *testing.T) error {
	t.Helper()
	select {
	case err := <-u.ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream's connection stayed open")
		return nil
	}
}

// wsGateway serves a proxy to up for route rt (nil: defaults) the way
// package server does, with metrics and a WebSocket registry.
type wsGateway struct {
	srv     *httptest.Server
	done    <-chan *pipeline.Exchange
	metrics *telemetry.Metrics
	reg     *WebSockets
}

func newWSGateway(tb testing.TB, up string, rt *config.Route, reg *WebSockets) *wsGateway {
	tb.Helper()
	if rt == nil {
		rt = &config.Route{Name: "chat"}
	}
	g := &wsGateway{metrics: telemetry.NewMetrics(), reg: reg}
	g.srv, g.done = startGateway(tb, newProxy(tb, nil, rt, Options{Metrics: g.metrics, WebSockets: reg}, up))
	return g
}

func (g *wsGateway) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// exchange waits for the exchange of the next finished request.
func (g *wsGateway) exchange(t *testing.T) *pipeline.Exchange {
	t.Helper()
	select {
	case x := <-g.done:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("the upgraded request did not finish")
		return nil
	}
}

func (g *wsGateway) scrape(t *testing.T) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	g.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]string{}
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "gantry_websocket_") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			out[k] = v
		}
	}
	return out
}

// echo sends n text messages and reads their echoes.
func echo(t *testing.T, c *websocket.Conn, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
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

// readUntilClosed reads from c until the connection ends and returns the
// error that ended it.
func readUntilClosed(t *testing.T, c *websocket.Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the gateway did not close the connection")
			}
			return err
		}
	}
}

// TestWebSocketEnds covers each way a connection ends: the reason recorded
// on the Exchange and in metrics, what each side sees, and the messages
// counted each way.
func TestWebSocketEnds(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	tests := []struct {
		name string
		ws   *config.WebSocket
		// run drives the client after two echoed messages and returns the
		// error its connection ended with.
		run        func(t *testing.T, c *websocket.Conn) error
		reason     string
		clientSees websocket.StatusCode
		// upstreamSees is the close status the upstream reads; -1: not
		// checked (the upstream closed itself).
		upstreamSees websocket.StatusCode
		in, out      int64
		atLeast      time.Duration
	}{
		{
			name: "client closes",
			run: func(t *testing.T, c *websocket.Conn) error {
				return c.Close(websocket.StatusNormalClosure, "done")
			},
			reason: telemetry.WSClientClosed, clientSees: -1, upstreamSees: websocket.StatusNormalClosure, in: 2, out: 2,
		},
		{
			name: "upstream closes",
			run: func(t *testing.T, c *websocket.Conn) error {
				if err := c.Write(t.Context(), websocket.MessageText, []byte("bye")); err != nil {
					t.Fatal(err)
				}
				return readUntilClosed(t, c)
			},
			reason: telemetry.WSUpstreamClosed, clientSees: websocket.StatusNormalClosure, upstreamSees: -1, in: 3, out: 2,
		},
		{
			name: "idle timeout",
			ws:   &config.WebSocket{IdleTimeout: config.Duration(300 * ms)},
			run: func(t *testing.T, c *websocket.Conn) error {
				return readUntilClosed(t, c)
			},
			reason: telemetry.WSIdleTimeout, clientSees: websocket.StatusGoingAway, upstreamSees: websocket.StatusGoingAway,
			in: 2, out: 2, atLeast: 300 * ms,
		},
		{
			name: "max lifetime while busy",
			ws:   &config.WebSocket{MaxLifetime: config.Duration(time.Second)},
			run: func(t *testing.T, c *websocket.Conn) error {
				// Keep it busy: the lifetime applies anyway.
				for i := 0; ; i++ {
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					err := c.Write(ctx, websocket.MessageBinary, []byte{byte(i)})
					if err == nil {
						_, _, err = c.Read(ctx)
					}
					cancel()
					if err != nil {
						return err
					}
					time.Sleep(10 * ms)
				}
			},
			reason: telemetry.WSMaxLifetime, clientSees: websocket.StatusGoingAway, upstreamSees: websocket.StatusGoingAway,
			in: -1, out: -1, atLeast: time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newWSUpstream(t)
			g := newWSGateway(t, up.URL, &config.Route{Name: "chat", WebSocket: tt.ws}, nil)
			c := g.dial(t)
			echo(t, c, 2)
			err := tt.run(t, c)
			if tt.clientSees >= 0 {
				if got := websocket.CloseStatus(err); got != tt.clientSees {
					t.Errorf("client's connection ended with %v (status %d), want status %d", err, got, tt.clientSees)
				}
			}
			// Without a close frame the upstream would record an abnormal
			// closure (1006).
			if uerr := up.waitEnded(t); tt.upstreamSees >= 0 && websocket.CloseStatus(uerr) != tt.upstreamSees {
				t.Errorf("upstream's connection ended with %v (status %d), want status %d", uerr, websocket.CloseStatus(uerr), tt.upstreamSees)
			}
			x := g.exchange(t)
			ws := x.WebSocket
			if ws == nil {
				t.Fatalf("exchange has no WebSocket stats (status %d, err %v)", x.Status, x.Err)
			}
			if ws.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", ws.Reason, tt.reason)
			}
			if tt.in >= 0 && (ws.MessagesIn != tt.in || ws.MessagesOut != tt.out) {
				t.Errorf("messages in/out = %d/%d, want %d/%d", ws.MessagesIn, ws.MessagesOut, tt.in, tt.out)
			}
			if n := up.count.Load(); tt.in < 0 && (ws.MessagesIn < n || ws.MessagesIn > n+1 || ws.MessagesOut < n-1 || ws.MessagesOut > n) {
				// Cut mid-exchange: one message may have been on its way.
				t.Errorf("messages in/out = %d/%d, want about the upstream's %d", ws.MessagesIn, ws.MessagesOut, n)
			}
			if ws.Duration < tt.atLeast {
				t.Errorf("Duration = %v, want at least %v", ws.Duration, tt.atLeast)
			}
			// The frames' bytes are the server's to count (its
			// hijacked connection), not the proxy's.
			if x.Status != http.StatusSwitchingProtocols {
				t.Errorf("exchange status %d, want 101", x.Status)
			}
			m := g.scrape(t)
			for series, want := range map[string]string{
				`gantry_websocket_connections{route="chat"}`:                                    "0",
				`gantry_websocket_messages_total{direction="in",route="chat"}`:                  fmt.Sprint(ws.MessagesIn),
				fmt.Sprintf(`gantry_websocket_closed_total{reason=%q,route="chat"}`, tt.reason): "1",
			} {
				if m[series] != want {
					t.Errorf("%s = %q, want %s", series, m[series], want)
				}
			}
		})
	}
}

// TestWebSocketMetricsWhileOpen checks the gauge and the message counters
// of a connection that is still open: an echoed message is counted both
// ways by the time the client has it.
func TestWebSocketMetricsWhileOpen(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t)
	g := newWSGateway(t, up.URL, nil, nil)
	c1, c2 := g.dial(t), g.dial(t)
	echo(t, c1, 7)
	echo(t, c2, 3)
	m := g.scrape(t)
	for series, want := range map[string]string{
		`gantry_websocket_connections{route="chat"}`:                    "2",
		`gantry_websocket_messages_total{direction="in",route="chat"}`:  "10",
		`gantry_websocket_messages_total{direction="out",route="chat"}`: "10",
	} {
		if m[series] != want {
			t.Errorf("%s = %q, want %s", series, m[series], want)
		}
	}
}

// rawUpstream answers the upgrade by hand and then writes what send gives
// it, and keeps the connection until the gateway closes it.
func rawUpstream(tb testing.TB, send []byte) string {
	return newUpstream(tb, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Write(send)
		brw.Flush()
		io.Copy(io.Discard, brw)
	}).URL
}

// rawDial sends a WebSocket handshake to the gateway (and extra bytes right
// behind it) and returns the connection, past the 101 answer.
func rawDial(t *testing.T, gw string, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(gw, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := c.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d, want 101", res.StatusCode)
	}
	return c, br
}

// TestWebSocketCloseFrameAtBoundary ends idle connections: the client gets
// a close frame after whole frames, but never one inside a frame the
// upstream left unfinished.
func TestWebSocketCloseFrameAtBoundary(t *testing.T) {
	t.Parallel()
	whole := encodeFrame(nil, frameSpec{fin: true, op: opText, size: 20})
	partial := encodeFrame(nil, frameSpec{fin: true, op: opBinary, size: 100})[:30]
	tests := []struct {
		name, send string
		want       []byte
	}{
		{"after a whole frame", string(whole), append(append([]byte{}, whole...), closeFrames[reasonIdle]...)},
		{"inside a frame", string(partial), partial},
		{"nothing sent", "", closeFrames[reasonIdle]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := rawUpstream(t, []byte(tt.send))
			g := newWSGateway(t, up, &config.Route{Name: "chat", WebSocket: &config.WebSocket{IdleTimeout: config.Duration(200 * time.Millisecond)}}, nil)
			_, br := rawDial(t, g.srv.URL, nil)
			got, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("reading until the gateway closes: %v", err)
			}
			if string(got) != string(tt.want) {
				t.Errorf("client received % x, want % x", got, tt.want)
			}
			if x := g.exchange(t); x.WebSocket == nil || x.WebSocket.Reason != telemetry.WSIdleTimeout {
				t.Errorf("exchange WebSocket = %+v, want reason idle_timeout", x.WebSocket)
			}
		})
	}
}

// TestWebSocketBytesAfterHandshake sends a frame in the same write as the
// handshake: the server has it buffered at the hijack, and it must still
// reach the upstream.
func TestWebSocketBytesAfterHandshake(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t)
	g := newWSGateway(t, up.URL, nil, nil)
	msg := []byte("early")
	frame := []byte{0x81, 0x80 | byte(len(msg)), 1, 2, 3, 4}
	for i, b := range msg {
		frame = append(frame, b^frame[2+i%4])
	}
	_, br := rawDial(t, g.srv.URL, frame)
	hdr := make([]byte, 2+len(msg))
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if hdr[0] != 0x81 || string(hdr[2:]) != "early" {
		t.Fatalf("echo = % x, want a text frame with %q", hdr, msg)
	}
}

// TestWebSocketsShutdown keeps connections open through the grace period and
// closes what is left with 1001.
func TestWebSocketsShutdown(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t)
	reg := NewWebSockets()
	g := newWSGateway(t, up.URL, nil, reg)
	c1, c2, c3 := g.dial(t), g.dial(t), g.dial(t)
	echo(t, c1, 1)
	echo(t, c2, 1)
	echo(t, c3, 1)
	if n := reg.Len(); n != 3 {
		t.Fatalf("Len() = %d, want 3", n)
	}
	// c3 ends on its own during the grace period.
	go func() {
		time.Sleep(50 * time.Millisecond)
		c3.Close(websocket.StatusNormalClosure, "")
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if n := reg.Shutdown(ctx); n != 2 {
		t.Errorf("Shutdown() closed %d connections, want 2", n)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("Shutdown() returned after %v, before the grace period ended", d)
	}
	if n := reg.Len(); n != 0 {
		t.Errorf("Len() = %d after Shutdown, want 0", n)
	}
	for i, c := range []*websocket.Conn{c1, c2} {
		if got := websocket.CloseStatus(readUntilClosed(t, c)); got != websocket.StatusGoingAway {
			t.Errorf("connection %d closed with status %d, want 1001", i+1, got)
		}
	}
	reasons := map[string]int{}
	for range 3 {
		reasons[g.exchange(t).WebSocket.Reason]++
	}
	if reasons[telemetry.WSShutdown] != 2 || reasons[telemetry.WSClientClosed] != 1 {
		t.Errorf("reasons = %v, want 2 shutdown and 1 client_closed", reasons)
	}

	// Past the grace period, an upgrade is closed as soon as it is made,
	// possibly before the client has read the 101.
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if c4, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.srv.URL, "http")+"/ws", nil); err == nil {
		defer c4.CloseNow()
		if _, _, err := c4.Read(ctx); ctx.Err() != nil {
			t.Fatalf("an upgrade after shutdown stayed open: %v", err)
		}
	}
	if x := g.exchange(t); x.WebSocket == nil || x.WebSocket.Reason != telemetry.WSShutdown {
		t.Errorf("an upgrade after shutdown: WebSocket = %+v, want reason shutdown", x.WebSocket)
	}
}

func TestWebSocketsShutdownIdle(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t)
	reg := NewWebSockets()
	g := newWSGateway(t, up.URL, nil, reg)
	c := g.dial(t)
	echo(t, c, 1)
	c.Close(websocket.StatusNormalClosure, "")
	g.exchange(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if n := reg.Shutdown(ctx); n != 0 {
		t.Errorf("Shutdown() closed %d connections, want none", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown() without connections took %v", d)
	}
	var nilReg *WebSockets
	if n := nilReg.Shutdown(ctx); n != 0 || nilReg.Len() != 0 || nilReg.Retain(nil) != 0 {
		t.Error("a nil registry reports connections")
	}
}

// TestWebSocketsRetain closes the connections of a route a reload removed
// and keeps the others.
func TestWebSocketsRetain(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t)
	reg := NewWebSockets()
	chat := newWSGateway(t, up.URL, &config.Route{Name: "chat"}, reg)
	feed := newWSGateway(t, up.URL, &config.Route{Name: "feed"}, reg)
	cc, fc := chat.dial(t), feed.dial(t)
	echo(t, cc, 1)
	echo(t, fc, 1)
	if n := reg.Retain([]string{"chat", "users"}); n != 1 {
		t.Errorf("Retain() closed %d connections, want 1", n)
	}
	if got := websocket.CloseStatus(readUntilClosed(t, fc)); got != websocket.StatusGoingAway {
		t.Errorf("the removed route's connection closed with status %d, want 1001", got)
	}
	if x := feed.exchange(t); x.WebSocket.Reason != telemetry.WSRouteRemoved {
		t.Errorf("Reason = %q, want route_removed", x.WebSocket.Reason)
	}
	echo(t, cc, 3) // the kept route's connection still works
	if n := reg.Len(); n != 1 {
		t.Errorf("Len() = %d, want 1", n)
	}
}

// TestIdleCheck drives the idle decision with a fake clock: traffic pushes
// the deadline, and the connection ends once it has been idle for the limit.
func TestIdleCheck(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	client, peer := net.Pipe()
	defer peer.Close()
	backend, bpeer := net.Pipe()
	defer bpeer.Close()
	go io.Copy(io.Discard, peer) // takes the close frame
	upstreamGot := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(bpeer)
		upstreamGot <- b
	}()
	c := &wsConn{backend: backend, limits: wsLimits{idle: 10 * time.Second}, clock: func() time.Duration { return time.Duration(now.Load()) }}
	c.Conn = client
	c.opened = c.clock()
	// A timer that never fires on its own: the test calls checkIdle.
	c.idleTimer = time.AfterFunc(time.Hour, func() {})
	defer c.idleTimer.Stop()

	steps := []struct {
		at, touch time.Duration // touch < 0: no traffic
		wantLeft  time.Duration
	}{
		{at: 4 * time.Second, touch: -1, wantLeft: 6 * time.Second},
		{at: 9 * time.Second, touch: 9 * time.Second, wantLeft: 10 * time.Second},
		{at: 18 * time.Second, touch: -1, wantLeft: time.Second},
		{at: 19 * time.Second, touch: -1, wantLeft: 0},
	}
	for _, s := range steps {
		now.Store(int64(s.at))
		if s.touch >= 0 {
			c.touch()
		}
		if got := c.idleLeft(); got != s.wantLeft {
			t.Fatalf("at %v: idleLeft() = %v, want %v", s.at, got, s.wantLeft)
		}
		c.checkIdle()
		if closed := c.reason.Load() != 0; closed != (s.wantLeft <= 0) {
			t.Fatalf("at %v: ended = %v, want %v", s.at, closed, s.wantLeft <= 0)
		}
	}
	if r := wsReason(c.reason.Load()); r != reasonIdle {
		t.Errorf("reason = %v, want idle", r)
	}
	select {
	case got := <-upstreamGot:
		if want := "\x03\xe9idle timeout"; len(got) < 6 || got[0] != 0x88 || got[1] != 0x80|byte(len(want)) || unmask(got[6:], got[2:6]) != want {
			t.Errorf("upstream side after the idle limit read % x, want a masked close frame 1001 %q, then EOF", got, want[2:])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream's side was not closed")
	}
}

func unmask(payload, key []byte) string {
	out := make([]byte, len(payload))
	for i, b := range payload {
		out[i] = b ^ key[i%4]
	}
	return string(out)
}

// TestWebSocketCopyAllocs holds the copy path to its budget: no allocation
// per message either way.
func TestWebSocketCopyAllocs(t *testing.T) {
	m := telemetry.NewMetrics()
	in, out := benchWSConn(m, benchClientFrame), benchWSConn(m, nil)
	buf := make([]byte, bufferSize)
	tests := []struct {
		name string
		fn   func()
	}{
		{"client to upstream", func() { in.Read(buf) }},
		{"upstream to client", func() { out.Write(benchUpstreamFrame) }},
	}
	for _, tt := range tests {
		tt.fn()
		if n := testing.AllocsPerRun(1000, tt.fn); n != 0 {
			t.Errorf("%s: %v allocations per message, want 0", tt.name, n)
		}
	}
	if in.inMsgs.Load() != 1002 || out.outMsgs.Load() != 1002 {
		t.Errorf("counted %d/%d messages, want 1002 each way", in.inMsgs.Load(), out.outMsgs.Load())
	}
}

// wsRecordingUpstream answers the upgrade by hand and sends everything it
// reads afterwards, until the gateway closes the connection, to got.
func wsRecordingUpstream(tb testing.TB) (string, <-chan []byte) {
	got := make(chan []byte, 1)
	url := newUpstream(tb, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		b, _ := io.ReadAll(brw)
		got <- b
	}).URL
	return url, got
}

// TestWebSocketUpstreamCloseFrameAtBoundary ends idle connections: the
// upstream gets a masked close frame 1001 after the client's whole frames,
// but never one inside a frame the client left unfinished, nor after the
// client's own close frame.
func TestWebSocketUpstreamCloseFrameAtBoundary(t *testing.T) {
	t.Parallel()
	whole := encodeFrame(nil, frameSpec{fin: true, op: opText, size: 20, masked: true})
	partial := encodeFrame(nil, frameSpec{fin: true, op: opBinary, size: 100, masked: true})[:30]
	clientClose := encodeFrame(nil, frameSpec{fin: true, op: opClose, size: 2, masked: true})
	tests := []struct {
		name, send string
		wantFrame  bool
	}{
		{"after a whole frame", string(whole), true},
		{"inside a frame", string(partial), false},
		{"after the client's close frame", string(clientClose), false},
		{"nothing sent", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, got := wsRecordingUpstream(t)
			g := newWSGateway(t, up, &config.Route{Name: "chat", WebSocket: &config.WebSocket{IdleTimeout: config.Duration(200 * time.Millisecond)}}, nil)
			c, _ := rawDial(t, g.srv.URL, []byte(tt.send))
			defer c.Close()
			var b []byte
			select {
			case b = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("the gateway did not close the upstream's connection")
			}
			if !strings.HasPrefix(string(b), tt.send) {
				t.Fatalf("upstream received % x, want the client's % x first", b, tt.send)
			}
			rest := b[len(tt.send):]
			if !tt.wantFrame {
				if len(rest) != 0 {
					t.Errorf("upstream received % x after the client's bytes, want nothing", rest)
				}
				return
			}
			const want = "\x03\xe9idle timeout"
			if len(rest) != 6+len(want) || rest[0] != 0x88 || rest[1] != 0x80|byte(len(want)) || unmask(rest[6:], rest[2:6]) != want {
				t.Errorf("upstream received % x after the client's bytes, want a masked close frame 1001 %q", rest, want[2:])
			}
		})
	}
}
