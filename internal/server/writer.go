package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/cors"
	"github.com/gantry-dev/gantry/internal/wire"
)

// responseWriter is the server's one recorder and policy point of a
// response: it records what was sent, for the error renderer, the access
// log, metrics and metering, and applies the route's response policy (CORS)
// to the final header, whoever wrote it: a relayed answer or the gateway's
// own error. It also counts the bytes of a hijacked (WebSocket) connection,
// and of the request body (see countBody). It unwraps for
// http.ResponseController, so flushing, hijacking and deadlines keep
// working.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	// units names the route's units_header: taken out of the response
	// before the client sees it and recorded in x for metering.
	units string
	x     *pipeline.Exchange
	// kind is the request's, by its Content-Type: a gRPC call's outcome
	// is read from the answer's header after it was sent.
	kind rpcKind
	// cors is the matched route's CORS policy (nil for none) and origin
	// the request's Origin header.
	cors   *cors.Policy
	origin string
	// body counts the request body read from the client (nil without a
	// body); conn counts the bytes of a hijacked connection.
	body *countBody
	conn *countConn
}

// bytesIn is what the request read from the client: its body, and what the
// client sent on a hijacked connection after the handshake.
func (w *responseWriter) bytesIn() int64 {
	var n int64
	if w.body != nil {
		n = w.body.n.Load()
	}
	if w.conn != nil {
		n += w.conn.in.Load()
	}
	return n
}

// bytesOut is what was written to the client: the response body, and what
// the gateway wrote on a hijacked connection after the handshake answer.
func (w *responseWriter) bytesOut() int64 {
	n := w.bytes
	if w.conn != nil {
		n += w.conn.out.Load()
	}
	return n
}

var writerPool = sync.Pool{New: func() any { return new(responseWriter) }}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			// Informational answers (100, 103) are not the final status.
			w.ResponseWriter.WriteHeader(code)
			return
		}
		w.wroteHeader = true
		w.status = code
		if w.units != "" {
			w.takeUnits()
		}
		if w.cors != nil {
			w.cors.Decorate(w.Header(), w.origin)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// fieldsWriter is a writer that takes part of the final header as a list
// (the serving engine's WriteHeaderFields): names and values alternating,
// sent after the header map's fields.
type fieldsWriter interface {
	WriteHeaderFields(code int, fields []string)
}

// WriteHeaderFields is WriteHeader with the fields of list added to the
// header after the map's. The list goes on to the engine, which sends it
// with no map built, unless the answer's header is edited here (CORS, the
// units header), read after it was sent (a gRPC call's status), the
// status is informational or the writer below takes no list (net/http's,
// for TLS and HTTP/2): then the fields join the map.
func (w *responseWriter) WriteHeaderFields(code int, fields []string) {
	fw, ok := w.ResponseWriter.(fieldsWriter)
	if !ok || w.wroteHeader || w.units != "" || w.cors != nil || w.kind != notRPC || code < 200 {
		wire.AddList(w.Header(), fields)
		w.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	fw.WriteHeaderFields(code, fields)
}

// takeUnits moves the upstream's units header into the exchange. A value
// that is not a non-negative integer is dropped too, and the request
// counts one unit.
func (w *responseWriter) takeUnits() {
	h := w.Header()
	v := h.Get(w.units)
	if v == "" {
		return
	}
	h.Del(w.units)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		w.x.Units, w.x.UnitsSet = n, true
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client (server-sent events, streaming).
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over, for protocol upgrades. The connection
// returned counts the bytes read and written through it; the bytes the
// server had already read past the request (buffered in brw) count as read
// from the client. What is written through brw's Writer, the handshake
// answer, is not counted.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusSwitchingProtocols
	}
	cc := &countConn{Conn: c}
	if brw != nil {
		cc.in.Add(int64(brw.Reader.Buffered()))
	}
	w.conn = cc
	return cc, brw, nil
}

// countConn counts the bytes of a hijacked connection. It is read and
// written from the copying goroutines, and read by the server once the
// handler returned, hence atomics. It is its own allocation, not part of
// the pooled writer, since a copy may still run when the writer is reused.
type countConn struct {
	net.Conn
	in, out atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// CloseWrite half-closes the connection when the one underneath can, so
// that an upgraded connection's handler can end its side (a WebSocket
// close frame, then FIN) and still let the client answer.
func (c *countConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// countBody counts the request body bytes read from the client, whoever
// reads them (proxy, lambda). The transport may read it on its own
// goroutine, even after the handler returned, hence an atomic and an
// allocation of its own.
type countBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
