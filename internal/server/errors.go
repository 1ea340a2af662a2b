package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gantry-dev/gantry/internal/jsonstr"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// writeError answers the client with the contract's JSON error body, unless
// the response has already started, in which case the connection is aborted
// by the caller. A gRPC call (kind, from the request's Content-Type) gets
// the same error as a trailers-only gRPC answer instead (writeGRPCError).
// It only reads x (for its ID): the caller records the outcome
// (pipeline.Outcome).
func writeError(w *responseWriter, x *pipeline.Exchange, err error, kind rpcKind) {
	if w.wroteHeader {
		return
	}
	if _, ok := errors.AsType[*pipeline.AbortedError](err); ok {
		// An answer that could not be completed: nothing to render.
		return
	}
	var he *pipeline.HTTPError
	if !errors.As(err, &he) {
		he = pipeline.Error(http.StatusInternalServerError, err)
		he.Message = "internal error"
	}
	if he.Status == pipeline.StatusClientClosed {
		// Nobody is listening; write nothing.
		return
	}
	h := w.Header()
	for k, vs := range he.Header {
		h[k] = vs
	}
	// The upstream's or a plugin's partial headers must not leak into a
	// gateway error.
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	if he.Close {
		h.Set("Connection", "close")
	}
	msg := he.Message
	if msg == "" {
		msg = http.StatusText(he.Status)
	}
	if kind != notRPC {
		writeGRPCError(w, kind, he.Status, msg)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	code := he.Code
	if code == "" {
		code = pipeline.CodeFor(he.Status)
	}
	b := make([]byte, 0, 128+len(msg)+len(x.ID))
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(he.Status), 10)
	b = append(b, `,"error":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, x.ID)
	b = append(b, "}\n"...)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(he.Status)
	w.Write(b)
}

func appendJSONString(b []byte, s string) []byte { return jsonstr.Append(b, s) }
