package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/wire"
)

// MaxMirrorBody is the largest request body a mirror copies: bodies the
// gateway may hold in memory anyway (MaxReplayBody). A sampled request
// with a larger body, or one of unknown length, is not copied.
const MaxMirrorBody = MaxReplayBody

// mirrorIdle is how long a mirror worker waits for a copy before it
// exits; the next copy starts one again. So a mirror of a retired
// generation leaves no goroutine behind.
const mirrorIdle = 30 * time.Second

// Mirror sends copies of a share of a route's admitted requests to
// another upstream, from a bounded queue on a few workers of its own, and
// discards their answers. The client's request never waits for a copy: a
// copy that does not fit in the queue is dropped. Copies are not metered,
// not retried, and not reported to the mirror upstream's targets (passive
// health, gantry_upstream_requests_total). Safe for concurrent use; it
// starts its workers on the first copy, not when built.
type Mirror struct {
	pool *upstream.Pool
	// tr sends to http:// and https:// targets, trH2C to h2c:// ones (nil
	// when the pool has none).
	tr, trH2C *Transport
	reqRules  *forward.Rules
	trusted   []netip.Prefix
	escape    func(string) string
	sample    float64
	timeout   time.Duration
	workers   int32
	// sticky is the route's sticky cookie, the gateway's own, which the
	// copy does not carry (as the split removes it from the primary).
	sticky string
	queue  chan *mirrorCopy
	// running counts the workers started and not yet exited.
	running  atomic.Int32
	onResult func(result string)
}

// mirrorCopy is one request to send: everything is copied from the
// client's request when it is queued.
type mirrorCopy struct {
	method, path, rawQuery string
	forceQuery             bool
	header                 http.Header
	body                   []byte
}

// NewMirror returns the mirror of route rt to pool, whose configuration
// is up; onResult is told what became of each sampled request
// (telemetry.Mirror*). It starts nothing.
func NewMirror(pool *upstream.Pool, up *config.Upstream, rt *config.Route, opts Options, onResult func(string)) (*Mirror, error) {
	mc := rt.Mirror
	if mc == nil {
		return nil, errors.New("proxy: the route has no mirror")
	}
	if pool == nil || len(pool.Targets()) == 0 {
		return nil, errors.New("proxy: mirror upstream pool without targets")
	}
	if up.TLS != nil && opts.TLS == nil {
		return nil, errors.New("proxy: the mirror upstream's tls settings were not loaded")
	}
	rules, err := forward.CompileRules(rt.RequestHeaders, true)
	if err != nil {
		return nil, err
	}
	trs := opts.Transports
	if trs == nil {
		trs = NewTransports()
	}
	m := &Mirror{pool: pool, tr: trs.Upstream(up, opts.TLS), reqRules: rules, trusted: opts.TrustedProxies,
		escape: opts.EscapePath, sample: mc.Sample, timeout: mc.Timeout.D(), workers: int32(max(mc.Workers, 1)),
		queue: make(chan *mirrorCopy, max(mc.Queue, 1)), onResult: onResult}
	if m.escape == nil {
		m.escape = defaultEscape
	}
	for _, t := range pool.Targets() {
		if t.H2C {
			m.trH2C = trs.GetH2C(up.Timeouts.Connect.D(), up.Timeouts.Response.D())
			break
		}
	}
	if m.timeout <= 0 {
		m.timeout = config.DefaultMirrorTimeout.D()
	}
	if rt.Sticky != nil {
		m.sticky = rt.Sticky.Cookie
	}
	if m.onResult == nil {
		m.onResult = func(string) {}
	}
	return m, nil
}

// Middleware queues a copy of a sampled request, then serves it. A body
// it copies is read whole first (at most MaxMirrorBody) and handed on as
// read, so the primary upstream gets the same bytes.
func (m *Mirror) Middleware(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if m.sample < 1 && rand.Float64() >= m.sample {
			return next.ServeHTTP(w, r)
		}
		if err := m.enqueue(r); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	})
}

func (m *Mirror) enqueue(r *http.Request) error {
	x := pipeline.ExchangeOf(r)
	hasBody := r.Body != nil && r.Body != http.NoBody
	if x == nil || r.Header.Get("Upgrade") != "" || wire.HasToken(r.Header["Connection"], "upgrade") ||
		(hasBody && (r.ContentLength < 0 || r.ContentLength > MaxMirrorBody)) || len(r.Trailer) > 0 {
		m.onResult(telemetry.MirrorSkipped)
		return nil
	}
	if len(m.queue) == cap(m.queue) {
		// Full: no body is read for a copy that would be dropped.
		m.onResult(telemetry.MirrorDropped)
		return nil
	}
	c := &mirrorCopy{method: r.Method, path: x.Path, rawQuery: r.URL.RawQuery, forceQuery: r.URL.ForceQuery}
	if c.path == "" {
		c.path = r.URL.Path
	}
	if hasBody && r.ContentLength > 0 {
		body, err := readBody(r.Body, r.ContentLength)
		if err != nil {
			return forward.BodyError(r, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.body = body
	}
	hd := make(http.Header, len(r.Header)+8)
	forward.CopyEndToEnd(hd, r.Header)
	forward.SetHeaders(hd, r, x, m.trusted)
	m.reqRules.Apply(hd)
	hd = hd.Clone()
	if m.sticky != "" {
		forward.RemoveCookie(hd, m.sticky)
	}
	c.header = hd
	select {
	case m.queue <- c:
		m.start()
	default:
		m.onResult(telemetry.MirrorDropped)
	}
	return nil
}

// start starts a worker when fewer than the allowed run and either none
// runs or copies are waiting (every running worker is busy).
func (m *Mirror) start() {
	for {
		n := m.running.Load()
		if n >= m.workers || (n > 0 && len(m.queue) == 0) {
			return
		}
		if m.running.CompareAndSwap(n, n+1) {
			go m.work()
			return
		}
	}
}

func (m *Mirror) work() {
	idle := time.NewTimer(mirrorIdle)
	defer idle.Stop()
	for {
		select {
		case c := <-m.queue:
			m.send(c)
			idle.Reset(mirrorIdle)
		case <-idle.C:
			m.running.Add(-1)
			// A copy queued while this worker was leaving, which saw it
			// still running, must not wait for the next one.
			if len(m.queue) > 0 {
				m.start()
			}
			return
		}
	}
}

// send sends one copy and discards its answer.
func (m *Mirror) send(c *mirrorCopy) {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	req := &http.Request{Method: c.method, Header: c.header, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	t, err := m.pool.Pick(req, nil)
	if err != nil {
		m.onResult(telemetry.MirrorFailed)
		return
	}
	u := &url.URL{Scheme: t.Scheme, Host: t.Addr, RawQuery: c.rawQuery, ForceQuery: c.forceQuery}
	setPath(u, t, c.path, m.escape(c.path))
	req.URL, req.Host = u, t.Host
	if h := m.reqRules.Host(); h != "" {
		req.Host = h
	}
	if len(c.body) > 0 {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(c.body)), int64(len(c.body))
		req.Header["Content-Length"] = []string{strconv.Itoa(len(c.body))}
	}
	req = req.WithContext(ctx)
	tr := m.tr
	if t.H2C && m.trH2C != nil {
		tr = m.trH2C
	}
	res, err := tr.RoundTrip(req)
	if err != nil {
		m.onResult(telemetry.MirrorFailed)
		return
	}
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if err != nil {
		m.onResult(telemetry.MirrorFailed)
		return
	}
	m.onResult(telemetry.MirrorSent)
}
