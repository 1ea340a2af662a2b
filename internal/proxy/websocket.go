package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// wsLimits are a route's WebSocket limits; 0 means none.
type wsLimits struct{ idle, lifetime time.Duration }

// wsReason says why a WebSocket connection ended; the first one recorded
// wins.
type wsReason int32

const (
	reasonNone wsReason = iota
	reasonClient
	reasonUpstream
	reasonIdle
	reasonLifetime
	reasonRouteRemoved
	reasonShutdown
)

var reasonLabels = [...]string{
	reasonNone:         "",
	reasonClient:       telemetry.WSClientClosed,
	reasonUpstream:     telemetry.WSUpstreamClosed,
	reasonIdle:         telemetry.WSIdleTimeout,
	reasonLifetime:     telemetry.WSMaxLifetime,
	reasonRouteRemoved: telemetry.WSRouteRemoved,
	reasonShutdown:     telemetry.WSShutdown,
}

// closeFrames are the close frames sent to a client whose connection the
// gateway ends: status 1001 (going away, RFC 6455 section 7.4.1) and a short
// reason. Server frames are not masked.
var closeFrames = [...][]byte{
	reasonIdle:         closeFrame("idle timeout"),
	reasonLifetime:     closeFrame("max lifetime reached"),
	reasonRouteRemoved: closeFrame("route removed"),
	reasonShutdown:     closeFrame("server shutting down"),
}

func closeFrame(reason string) []byte {
	return append([]byte{0x80 | opClose, byte(2 + len(reason)), 0x03, 0xe9}, reason...)
}

// maskedCloseFrame is the close frame of reason r as the upstream gets it:
// the same status and reason, masked with a fresh key as every frame from
// a client must be (RFC 6455 section 5.3).
func maskedCloseFrame(r wsReason) []byte {
	payload := closeFrames[r][2:]
	f := make([]byte, 0, 6+len(payload))
	f = append(f, 0x80|opClose, 0x80|byte(len(payload)))
	f = binary.BigEndian.AppendUint32(f, rand.Uint32())
	for i, b := range payload {
		f = append(f, b^f[2+i%4])
	}
	return f
}

// closeFrameTimeout bounds writing a close frame to a client that does not
// read.
const closeFrameTimeout = time.Second

// epoch anchors the monotonic clock of WebSocket connections.
var epoch = time.Now()

func monotonic() time.Duration { return time.Since(epoch) }

// wsConn is the client's side of an upgraded connection, as ReverseProxy
// copies it: Read carries the client's bytes to the upstream, Write the
// upstream's to the client. On the way it counts messages each way (reading
// frame headers only), records the last activity for the idle limit, and
// lets the gateway end the connection with a close frame at a frame
// boundary. It adds no buffering: WriteTo and ReadFrom copy through the
// proxy's pooled buffers, so a connection allocates nothing per message.
type wsConn struct {
	net.Conn
	// br holds bytes the server read past the handshake; Read drains it
	// first.
	br *bufio.Reader
	// backend is the upstream's side, closed with the client's.
	backend io.ReadWriteCloser

	route   string
	limits  wsLimits
	metrics *telemetry.WebSocketMetrics
	reg     *WebSockets
	clock   func() time.Duration

	// opened is the clock reading at the upgrade.
	opened time.Duration
	// last is the clock reading of the last bytes either way.
	last               atomic.Int64
	inMsgs, outMsgs    atomic.Int64
	reason             atomic.Int32
	idleTimer, ltTimer *time.Timer

	// wmu serializes writes to the client, so that a close frame never
	// lands inside another frame.
	wmu sync.Mutex
	out frameCounter // under wmu
	// outBroken is set when a write to the client stopped partway: the
	// stream is no longer at a known frame boundary. Under wmu.
	outBroken bool

	// bmu serializes writes to the upstream (the client's bytes, then a
	// close frame), so that the close frame never lands inside another
	// frame.
	bmu sync.Mutex
	// in follows the client's frames as they are written to the upstream.
	// Under bmu.
	in frameCounter
	// inBroken is set when the upstream's stream is no longer at a known
	// frame boundary: a write stopped partway, or bytes were read with
	// Read and written by the caller. Under bmu.
	inBroken bool

	mu     sync.Mutex
	closed bool
}

// newWebSocket prepares the accounting of an upgrade the upstream accepted;
// start begins it once the client's connection is hijacked.
func (h *handler) newWebSocket(backend io.ReadWriteCloser) *wsConn {
	var wm *telemetry.WebSocketMetrics
	if h.metrics != nil {
		wm = h.metrics.WebSocket(h.route)
	}
	return &wsConn{backend: backend, route: h.route, limits: h.wsLimits, metrics: wm, reg: h.websockets, clock: h.clock}
}

// start wraps the hijacked client connection c; br is the server's reader,
// which may hold bytes the client sent right after its handshake.
func (c *wsConn) start(conn net.Conn, br *bufio.Reader) {
	c.Conn = conn
	if br != nil && br.Buffered() > 0 {
		c.br = br
	}
	c.opened = c.clock()
	c.last.Store(int64(c.opened))
	c.metrics.Opened()
	c.mu.Lock()
	if c.limits.idle > 0 {
		c.idleTimer = time.AfterFunc(c.limits.idle, c.checkIdle)
	}
	if c.limits.lifetime > 0 {
		c.ltTimer = time.AfterFunc(c.limits.lifetime, func() { c.expire(reasonLifetime) })
	}
	c.mu.Unlock()
	if !c.reg.add(c) {
		// The server is past its shutdown grace.
		c.expire(reasonShutdown)
	}
}

func (c *wsConn) started() bool { return c.Conn != nil }

func (c *wsConn) touch() { c.last.Store(int64(c.clock())) }

// idleLeft returns how long the connection may stay idle from now; 0 or less
// when it has been idle for the limit.
func (c *wsConn) idleLeft() time.Duration {
	return c.limits.idle - (c.clock() - time.Duration(c.last.Load()))
}

// checkIdle runs when the idle limit may have passed: it ends the
// connection if it did, and looks again when it would otherwise. Traffic
// only stores a time, so the timer fires about once per limit, not per
// message.
func (c *wsConn) checkIdle() {
	left := c.idleLeft()
	if left <= 0 {
		c.expire(reasonIdle)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.idleTimer.Reset(left)
	}
}

// ended records why the connection ends, unless a reason is already known.
func (c *wsConn) ended(r wsReason) { c.reason.CompareAndSwap(int32(reasonNone), int32(r)) }

// expire ends the connection on the gateway's initiative: a limit, a
// removed route or shutdown.
func (c *wsConn) expire(r wsReason) {
	c.ended(r)
	c.terminate(r)
}

// terminate closes both sides once. For a reason other than reasonNone,
// it first sends each side the close frame of r (1001 going away), so that
// neither records an abnormal closure (1006), where that is safe: no write
// to that side is in progress (one is waited for up to closeFrameWait),
// its stream is at a frame boundary and the
// other side has not sent a close frame already (the upstream's frame is
// masked, as a client's). Otherwise, or when a side does not take the
// frame in closeFrameTimeout, it is just closed. Closing the client's side
// ends ReverseProxy's copies, and closing the upstream's unblocks them if
// they wait on it.
func (c *wsConn) terminate(r wsReason) {
	frame := closeFrames[r]
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, t := range []*time.Timer{c.idleTimer, c.ltTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.mu.Unlock()
	if frame != nil && lockWithin(&c.bmu, closeFrameWait) {
		// The upstream's frame goes first: once the client's side is
		// closed, ReverseProxy's copies end and it closes the upstream's
		// side itself. bmu stays held until that side is closed, so no
		// client bytes follow the frame. An upstream that does not take
		// the frame in closeFrameTimeout is closed under it.
		stop := time.AfterFunc(closeFrameTimeout, func() { c.backend.Close() })
		defer stop.Stop()
		defer c.bmu.Unlock()
		if !c.inBroken && !c.in.sawClose && c.in.atBoundary() {
			c.backend.Write(maskedCloseFrame(r))
		}
		c.inBroken = true
	}
	if frame != nil && lockWithin(&c.wmu, closeFrameWait) {
		sent := false
		if !c.outBroken && !c.out.sawClose && c.out.atBoundary() {
			c.Conn.SetWriteDeadline(time.Now().Add(closeFrameTimeout))
			_, err := c.Conn.Write(frame)
			sent = err == nil
		}
		c.outBroken = true
		if sent {
			lingerClose(c.Conn)
		} else {
			c.Conn.Close()
		}
		c.wmu.Unlock()
	} else {
		c.Conn.Close()
	}
	c.backend.Close()
}

// closeFrameWait bounds how long terminate waits for a write in progress
// to a side (a message being copied) to end before it sends that side its
// close frame; a write still blocked then (a peer that does not read) is
// not waited for, and that side is just closed.
const closeFrameWait = 100 * time.Millisecond

// lockWithin locks mu if it can within d, polling: a copy holds it only
// for one write, so a busy connection frees it within microseconds, and a
// write blocked on a peer that does not read must not hold terminate.
func lockWithin(mu *sync.Mutex, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !mu.TryLock() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// isClosed reports whether terminate has run.
func (c *wsConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// lingerClose ends the gateway's side of a client connection that was just
// sent a close frame: FIN after the frame, and the connection closed once
// closeFrameTimeout has passed. Closing at once would make the kernel
// answer a client still sending (a busy WebSocket) with a reset, which can
// discard the close frame before the client reads it: it would see an
// abnormal closure (1006) instead of the gateway's 1001. A connection that
// cannot half-close is closed at once.
func lingerClose(conn net.Conn) {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		conn.Close()
		return
	}
	time.AfterFunc(closeFrameTimeout, func() { conn.Close() })
}

// Close closes both sides; ReverseProxy calls it when it is done.
func (c *wsConn) Close() error {
	c.terminate(reasonNone)
	return nil
}

// finish ends the accounting once ReverseProxy has returned and reports the
// connection for the Exchange.
func (c *wsConn) finish() *pipeline.WebSocketStats {
	c.terminate(reasonNone)
	// The client's copy may still run (ReverseProxy returns when one
	// direction ends); once closed is set it counts nothing more, and it
	// counts under bmu.
	c.bmu.Lock()
	in := c.inMsgs.Load()
	c.bmu.Unlock()
	// Without a reason, the copies never ran (the handshake answer could
	// not be written): the client is gone.
	c.ended(reasonClient)
	r := reasonLabels[c.reason.Load()]
	c.metrics.Closed(r)
	c.reg.remove(c)
	return &pipeline.WebSocketStats{
		MessagesIn:  in,
		MessagesOut: c.outMsgs.Load(),
		Duration:    c.clock() - c.opened,
		Reason:      r,
	}
}

// Read reads the client's bytes, bound for the upstream. ReverseProxy
// copies with WriteTo; a caller of Read writes the bytes itself, out of
// the gateway's sight, so the upstream gets no close frame afterwards.
func (c *wsConn) Read(p []byte) (int, error) {
	n, err := c.readClient(p)
	if n > 0 {
		c.bmu.Lock()
		if c.isClosed() {
			// Read while the gateway's side lingers after its close
			// frame (lingerClose): the connection has ended, nothing
			// more is forwarded or counted (finish reads the counts
			// under bmu once closed is set).
			c.bmu.Unlock()
			return 0, net.ErrClosed
		}
		c.inBroken = true
		c.countIn(p[:n])
		c.bmu.Unlock()
	}
	return n, err
}

// readClient reads the client's bytes: first those the server read past
// the handshake.
func (c *wsConn) readClient(p []byte) (int, error) {
	var n int
	var err error
	if c.br != nil {
		if k := c.br.Buffered(); k > 0 {
			n, err = c.br.Read(p[:min(len(p), k)])
		} else {
			c.br = nil
		}
	}
	if c.br == nil {
		n, err = c.Conn.Read(p)
	}
	return n, err
}

// countIn accounts for p, the client's next bytes; c.bmu must be held.
func (c *wsConn) countIn(p []byte) {
	c.touch()
	m, closing := c.in.feed(p)
	if m > 0 {
		c.inMsgs.Add(m)
		c.metrics.MessagesIn(m)
	}
	if closing {
		c.ended(reasonClient)
	}
}

// Write writes the upstream's bytes to the client. The messages are counted
// before the write, so a client that has read a message finds it counted.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.touch()
	m, closing := c.out.feed(p)
	if m > 0 {
		c.outMsgs.Add(m)
		c.metrics.MessagesOut(m)
	}
	if closing {
		c.ended(reasonUpstream)
	}
	n, err := c.Conn.Write(p)
	if n < len(p) {
		c.outBroken = true
	}
	return n, err
}

// WriteTo copies the client's bytes to w, the upstream, until either side
// fails; io.Copy in ReverseProxy prefers it to a buffer of its own. A clean
// end of the client's stream returns nil, so that ReverseProxy half-closes
// the upstream.
func (c *wsConn) WriteTo(w io.Writer) (int64, error) {
	buf := buffers.Get()
	defer buffers.Put(buf)
	var total int64
	for {
		n, rerr := c.readClient(buf)
		if n > 0 {
			// Counted and written under bmu, so that a close frame from
			// terminate comes between two writes, knowing where the
			// stream stands.
			c.bmu.Lock()
			if c.isClosed() {
				// As in Read: nothing after the gateway's close frame.
				c.bmu.Unlock()
				return total, net.ErrClosed
			}
			c.countIn(buf[:n])
			m, werr := w.Write(buf[:n])
			if m < n {
				c.inBroken = true
			}
			c.bmu.Unlock()
			total += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				c.ended(reasonUpstream)
				return total, werr
			}
		}
		if rerr != nil {
			c.ended(reasonClient)
			if rerr == io.EOF {
				return total, nil
			}
			return total, rerr
		}
	}
}

// ReadFrom copies r, the upstream, to the client until either side fails.
func (c *wsConn) ReadFrom(r io.Reader) (int64, error) {
	buf := buffers.Get()
	defer buffers.Put(buf)
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			m, werr := c.Write(buf[:n])
			total += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				c.ended(reasonClient)
				return total, werr
			}
		}
		if rerr != nil {
			c.ended(reasonUpstream)
			if rerr == io.EOF {
				return total, nil
			}
			return total, rerr
		}
	}
}

// WebSockets tracks the open WebSocket connections of a server.
// http.Server's Shutdown neither waits for nor closes hijacked connections,
// and a reload must close the connections of a route it removed; both go
// through here. The server creates one and gives it to every handler
// (Options.WebSockets). Safe for concurrent use; a nil *WebSockets tracks
// nothing.
type WebSockets struct {
	mu    sync.Mutex
	conns map[*wsConn]struct{}
	// down is set once Shutdown closed the connections: any that opens
	// later is closed at once.
	down bool
}

// NewWebSockets returns an empty registry.
func NewWebSockets() *WebSockets { return &WebSockets{conns: make(map[*wsConn]struct{})} }

func (ws *WebSockets) add(c *wsConn) bool {
	if ws == nil {
		return true
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.conns[c] = struct{}{}
	return !ws.down
}

func (ws *WebSockets) remove(c *wsConn) {
	if ws == nil {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.conns, c)
}

// Len returns how many WebSocket connections are open.
func (ws *WebSockets) Len() int {
	if ws == nil {
		return 0
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.conns)
}

// closeWhere ends the connections keep rejects, for reason r, and returns
// how many.
func (ws *WebSockets) closeWhere(r wsReason, keep func(*wsConn) bool) int {
	if ws == nil {
		return 0
	}
	ws.mu.Lock()
	var doomed []*wsConn
	for c := range ws.conns {
		if !keep(c) {
			doomed = append(doomed, c)
		}
	}
	if r == reasonShutdown {
		ws.down = true
	}
	ws.mu.Unlock()
	// Each may wait for a write in progress (closeFrameWait) and a close
	// frame (closeFrameTimeout): in parallel, so that many busy
	// connections do not add up.
	var wg sync.WaitGroup
	for _, c := range doomed {
		wg.Go(func() { c.expire(r) })
	}
	wg.Wait()
	return len(doomed)
}

// Retain closes, with a close frame 1001 and reason route_removed, the
// connections of every route not named in routes. The server calls it when
// a reload is put in force, with the new generation's route names:
// connections of routes that stay keep running on the generation they
// started on. It returns how many it closed.
func (ws *WebSockets) Retain(routes []string) int {
	set := make(map[string]struct{}, len(routes))
	for _, r := range routes {
		set[r] = struct{}{}
	}
	return ws.closeWhere(reasonRouteRemoved, func(c *wsConn) bool {
		_, ok := set[c.route]
		return ok
	})
}

// Shutdown lets the open connections run until they end or ctx is done
// (the server's shutdown grace), then closes the rest with a close frame
// 1001 and reason shutdown, and waits for their handlers to record them.
// Connections upgraded after that are closed at once. It returns how many
// connections it closed.
func (ws *WebSockets) Shutdown(ctx context.Context) int {
	if ws.wait(ctx) {
		return 0
	}
	n := ws.closeWhere(reasonShutdown, func(*wsConn) bool { return false })
	// Closing ends both copies at once, and a close frame takes at most
	// closeFrameTimeout; the bound only guards against a bug.
	wctx, cancel := context.WithTimeout(context.Background(), 5*closeFrameTimeout)
	defer cancel()
	ws.wait(wctx)
	return n
}

// wait reports whether every connection ended before ctx was done. It
// polls like http.Server.Shutdown, from 1ms up to 100ms.
func (ws *WebSockets) wait(ctx context.Context) bool {
	d := time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if ws.Len() == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return ws.Len() == 0
		case <-t.C:
			d = min(2*d, 100*time.Millisecond)
			t.Reset(d)
		}
	}
}
