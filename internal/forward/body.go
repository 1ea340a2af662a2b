package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// A request body is the client's: when reading it fails (chunked framing
// net/http refuses, a body shorter than its Content-Length, an HTTP/2
// stream ending before its content-length, read_timeout, the client gone,
// the body limit), the failure is wrapped in a *pipeline.BodyError where it
// is read, the attempt is not held against the target (no passive failure,
// no retry, no gantry_upstream_requests_total count) and the client is
// answered by ClassifyBody.

// AsBodyError wraps err, a failure to read the client's body, in a
// *pipeline.BodyError unless it already is one.
func AsBodyError(err error) *pipeline.BodyError {
	var be *pipeline.BodyError
	if errors.As(err, &be) {
		return be
	}
	return &pipeline.BodyError{Err: err}
}

// BodyError answers a failure to read in's body before the response
// started, whether before any attempt or during one (see ClassifyBody).
func BodyError(in *http.Request, err error) error {
	return ClassifyBody(AsBodyError(err), errors.Is(in.Context().Err(), context.Canceled))
}

// ClassifyBody turns a failure to read the client's body into the client's
// answer: over the limit 413, cut by the server's read_timeout 408, ended
// before its declared length 400, the client gone (canceled, and nothing
// of the above) 499, anything else (framing net/http refused) 400. Every
// answer but 499 closes the connection: the rest of the body cannot be
// framed. Messages never carry the parser's words.
func ClassifyBody(err error, canceled bool) *pipeline.HTTPError {
	e := func(status int, msg string) *pipeline.HTTPError {
		return &pipeline.HTTPError{Status: status, Code: pipeline.CodeFor(status), Message: msg, Close: true, Err: err}
	}
	var (
		mbe *http.MaxBytesError
		ne  net.Error
	)
	switch {
	case errors.As(err, &mbe):
		return e(http.StatusRequestEntityTooLarge, "request body is larger than the limit")
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		// The server's read_timeout: the client may well be there, waiting
		// for an answer (RFC 9110 §15.5.9).
		return e(http.StatusRequestTimeout, "request body was not received in time")
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// The client ended (or half-closed) the connection mid-body; as
		// NGINX, answer 400 in case it still reads.
		return e(http.StatusBadRequest, "request body ended before it was complete")
	case canceled:
		he := e(pipeline.StatusClientClosed, "client closed the request")
		he.Close = false
		return he
	}
	return e(http.StatusBadRequest, "request body is malformed")
}
