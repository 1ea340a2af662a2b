package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// discardWriter is a reusable ResponseWriter for benchmarks.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkProxy measures one request through the handler to a local
// keep-alive upstream: the gateway's cost plus one loopback round trip.
func BenchmarkProxy(b *testing.B) {
	body := []byte(`{"id":42,"name":"Ada Lovelace"}`)
	up := newUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	rt := &config.Route{
		RequestHeaders:  &config.HeaderRules{Set: map[string]string{"X-Gateway": "gantry"}},
		ResponseHeaders: &config.HeaderRules{Remove: []string{"Server"}},
	}
	h := newProxy(b, nil, rt, Options{}, up.URL)
	r := httptest.NewRequest("GET", "/users/42?expand=orders", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	w := &discardWriter{h: make(http.Header)}
	x := &pipeline.Exchange{ID: "req-bench", Path: "/users/42"}
	r = r.WithContext(pipeline.WithExchange(r.Context(), x))
	b.Run("proxy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			if err := h.ServeHTTP(w, r); err != nil || w.code != http.StatusOK {
				b.Fatalf("ServeHTTP() = %d, %v", w.code, err)
			}
		}
	})
	// direct is the same round trip without the gateway, the baseline the
	// proxy's overhead is read against.
	b.Run("direct", func(b *testing.B) {
		c := &http.Client{Transport: NewTransports().Get(0, 0)}
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.Get(up.URL + "/users/42?expand=orders")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}

func BenchmarkBufferPool(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		buf := buffers.Get()
		buffers.Put(buf)
	}
}

// frameConn is a client connection for WebSocket benchmarks: every Read
// returns one whole frame, and writes are discarded.
type frameConn struct {
	net.Conn // nil: only Read and Write are used
	frame    []byte
}

func (c *frameConn) Read(p []byte) (int, error)  { return copy(p, c.frame), nil }
func (c *frameConn) Write(p []byte) (int, error) { return len(p), nil }

// benchWSConn is a wsConn over a frameConn that reads frame, counting into
// the route's shared metrics.
func benchWSConn(m *telemetry.Metrics, frame []byte) *wsConn {
	c := &wsConn{metrics: m.WebSocket("chat"), clock: monotonic, limits: wsLimits{idle: time.Minute}}
	c.Conn = &frameConn{frame: frame}
	c.metrics.Opened()
	return c
}

var (
	benchClientFrame   = encodeFrame(nil, frameSpec{fin: true, op: opText, size: 64, masked: true})
	benchUpstreamFrame = encodeFrame(nil, frameSpec{fin: true, op: opText, size: 64})
)

// BenchmarkWebSocketMessage measures the gateway's work per WebSocket
// message on each direction of the copy: frame accounting, the activity
// stamp and the metrics, without the sockets. It must not allocate.
func BenchmarkWebSocketMessage(b *testing.B) {
	m := telemetry.NewMetrics()
	b.Run("in", func(b *testing.B) {
		c := benchWSConn(m, benchClientFrame)
		buf := make([]byte, bufferSize)
		b.ReportAllocs()
		for b.Loop() {
			c.Read(buf)
		}
		if got := c.inMsgs.Load(); got != int64(b.N) {
			b.Fatalf("counted %d messages in %d reads", got, b.N)
		}
	})
	b.Run("out", func(b *testing.B) {
		c := benchWSConn(m, nil)
		b.ReportAllocs()
		for b.Loop() {
			c.Write(benchUpstreamFrame)
		}
		if got := c.outMsgs.Load(); got != int64(b.N) {
			b.Fatalf("counted %d messages in %d writes", got, b.N)
		}
	})
	// Many connections of one route share its counters.
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c := benchWSConn(m, benchClientFrame)
			buf := make([]byte, bufferSize)
			for pb.Next() {
				c.Read(buf)
				c.Write(benchUpstreamFrame)
			}
		})
	})
}

// BenchmarkWebSocketEcho is one message echoed through the gateway on
// loopback, against the same echo without it. Both sides' WebSocket
// libraries allocate; the difference is the gateway's share.
func BenchmarkWebSocketEcho(b *testing.B) {
	up := newWSUpstream(b)
	gw, _ := startGateway(b, newProxy(b, nil, &config.Route{Name: "chat"}, Options{Metrics: telemetry.NewMetrics()}, up.URL))
	msg := []byte(strings.Repeat("m", 64))
	for _, tc := range []struct{ name, url string }{{"gateway", gw.URL}, {"direct", up.URL}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(tc.url, "http"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
