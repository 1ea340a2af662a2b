package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
)

// responseWriter records whether the response has started, so the handler knows whether an error
// may still become a gateway error response. Flush, Hijack (WebSocket via
// ReverseProxy) and http.ResponseController keep working through Unwrap.
type responseWriter struct {
	http.ResponseWriter
	// started is set once a final status was written, the body flushed or
	// the connection hijacked.
	started bool
	// err is the first error writing to the client.
	err error
	// ws, set for an upgrade the upstream accepted, wraps the hijacked
	// connection.
	ws *wsConn
	// http10 is set when the client's request is HTTP/1.0, which has no
	// 1xx answers.
	http10 bool
}

func (w *responseWriter) WriteHeader(code int) {
	// 1xx answers (100 Continue, 103 Early Hints) are not the final status;
	// ReverseProxy relays them from the transport's goroutine, so they must
	// not touch w's fields.
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.started = true
	} else if code >= 100 && w.http10 {
		// RFC 9110 §15.2: never send a 1xx answer to an HTTP/1.0 client.
		// It cannot tell one from the final answer: it would take the
		// upstream's 103 for the answer, and the real one for its body.
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// fieldsWriter is a writer that takes part of the final header as a list,
// names and values alternating, sent after the header map's fields (the
// server's, down to the serving engine).
type fieldsWriter interface {
	WriteHeaderFields(code int, fields []string)
}

// writeHeaderFields writes the final header with fields, a relayed
// answer's, added after the map's: handed on as a list when the writer
// below takes one, else added to the map. Route steps that wrap the writer
// (cache, transforms) take no list, so they see the whole header in the
// map as before.
func (w *responseWriter) writeHeaderFields(code int, fields []string) {
	if fw, ok := w.ResponseWriter.(fieldsWriter); ok && code >= 200 {
		w.started = true
		fw.WriteHeaderFields(code, fields)
		return
	}
	wire.AddList(w.Header(), fields)
	w.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.started = true
	n, err := w.ResponseWriter.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// FlushError flushes to the client; http.ResponseController prefers it.
func (w *responseWriter) FlushError() error {
	w.started = true
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err != nil && !errors.Is(err, http.ErrNotSupported) && w.err == nil {
		w.err = err
	}
	return err
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// Hijack implements http.Hijacker for protocol upgrades. ReverseProxy
// copies the upgraded connection through the returned conn, which accounts
// for a WebSocket when w.ws is set.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	w.started = true
	if w.ws != nil {
		var br *bufio.Reader
		if brw != nil {
			br = brw.Reader
		}
		w.ws.start(c, br)
		c = w.ws
	}
	return c, brw, nil
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestBody records the first failure to read the client's body, which it
// returns wrapped in a *pipeline.BodyError so that whatever the transport
// makes of it, the blame stays with the client.
// The transport reads it on its own goroutine, possibly after the handler
// returned, hence atomics.
type requestBody struct {
	rc       io.ReadCloser
	tooLarge atomic.Bool
	// failed is the first read error; set once, by the reader.
	failed atomic.Pointer[pipeline.BodyError]
	// closed, when not nil, is closed by the first Close: the transport
	// closes the body once it stopped reading it, so a failure of its read
	// is in failed by then (see settle).
	closed    chan struct{}
	closeOnce sync.Once
}

// settle waits, at most d, until the transport is done with the body, so
// that failed holds the body's failure if there was one. A client whose
// body read fails also has its request context canceled by the server,
// and the transport may return the context's error before its reader
// goroutine has recorded the cause.
func (b *requestBody) settle(d time.Duration) {
	if b.closed == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.closed:
	case <-t.C:
	}
}

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			b.tooLarge.Store(true)
		}
		be := forward.AsBodyError(err)
		b.failed.CompareAndSwap(nil, be)
		return n, be
	}
	return n, err
}

func (b *requestBody) Close() error {
	err := b.rc.Close()
	if b.closed != nil {
		b.closeOnce.Do(func() { close(b.closed) })
	}
	return err
}

// responseBody records the first error reading the upstream's body, to tell
// an upstream failure from a client failure once the response has started.
type responseBody struct {
	rc  io.ReadCloser
	err error
}

func (b *responseBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *responseBody) Close() error { return b.rc.Close() }

const bufferSize = 32 << 10

// bufferPool lends ReverseProxy its 32 KiB copy buffers. It stores array
// pointers, so neither Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

var buffers = &bufferPool{p: sync.Pool{New: func() any { return new([bufferSize]byte) }}}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[bufferSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) < bufferSize {
		return
	}
	bp.p.Put((*[bufferSize]byte)(b[:bufferSize]))
}
