package server

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// responseWriter records what the handler sent, for the error renderer, the
// access log, metrics and metering. It unwraps for http.ResponseController,
// so flushing, hijacking (WebSocket) and deadlines keep working.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	// units names the route's units_header: taken out of the response
	// before the client sees it and recorded in x for metering.
	units string
	x     *pipeline.Exchange
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
	}
	w.ResponseWriter.WriteHeader(code)
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

// Hijack hands the connection over, for protocol upgrades.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
