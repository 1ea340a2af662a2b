package transform

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// responseWriter holds back a JSON answer of declared length up to the
// limit until it is complete, then writes it transformed; every other
// answer passes through as it comes, flushes included.
type responseWriter struct {
	http.ResponseWriter
	t *transformer
	// decided is set by the final status; buffering when the answer is
	// held back.
	decided, buffering bool
	status             int
	buf                bytes.Buffer
}

func (w *responseWriter) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		// 1xx answers are not the final status; ReverseProxy relays them
		// from the transport's goroutine, so they must not touch w's
		// fields.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.decided {
		return
	}
	w.decided = true
	h := w.Header()
	if code == http.StatusSwitchingProtocols || code == http.StatusNoContent || code == http.StatusNotModified ||
		!isJSON(h.Get("Content-Type")) {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	n := int64(-1)
	if cl := h.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			n = v
		}
	}
	if n == 0 {
		// Nothing to transform.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if skip := w.t.skip(h, n); skip != "" {
		w.t.onResult(Response, skip)
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.buffering, w.status = true, code
	w.buf.Grow(int(n))
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	if !w.buffering {
		return w.ResponseWriter.Write(p)
	}
	if int64(w.buf.Len()+len(p)) > w.t.limit {
		// More than declared: send what came as it came.
		w.buffering = false
		w.t.onResult(Response, TooLarge)
		w.ResponseWriter.WriteHeader(w.status)
		if _, err := w.ResponseWriter.Write(w.buf.Bytes()); err != nil {
			return 0, err
		}
		w.buf = bytes.Buffer{}
		return w.ResponseWriter.Write(p)
	}
	return w.buf.Write(p)
}

// FlushError flushes an answer that passes through; a held-back one is
// written whole at the end.
func (w *responseWriter) FlushError() error {
	if w.buffering {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// Unwrap returns the underlying writer for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes a held-back answer once the handler returned err.
func (w *responseWriter) finish(err error) error {
	if !w.buffering {
		return err
	}
	w.buffering = false
	if err != nil {
		// The answer failed after its header: nothing was written, and
		// the error says how the request ended.
		return err
	}
	body := w.buf.Bytes()
	out, terr := w.t.res.Apply(body)
	if terr != nil {
		w.t.onResult(Response, Invalid)
		out = body
	} else {
		w.t.onResult(Response, Applied)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.ResponseWriter.WriteHeader(w.status)
	if _, werr := w.ResponseWriter.Write(out); werr != nil {
		return &pipeline.AbortedError{Status: pipeline.StatusClientClosed, Err: fmt.Errorf("%w: %w", http.ErrAbortHandler, werr)}
	}
	return nil
}
