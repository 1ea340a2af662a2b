package proxy

import (
	"io"

	"github.com/gantry-dev/gantry/internal/forward"
)

// A request body is the client's: when reading it fails (chunked framing
// net/http refuses, a body shorter than its Content-Length, an HTTP/2
// stream ending before its content-length, read_timeout, the client gone,
// the body limit), the failure is wrapped in a *pipeline.BodyError where it
// is read (requestBody, bufferBody, readBody), the attempt is not held
// against the target (no passive failure, no retry, no
// gantry_upstream_requests_total count) and the client is answered by
// forward.ClassifyBody.

// readBody reads a body of known length n whole, before any upstream is
// contacted: a body that is cut, late or malformed is then the client's
// answer (forward.ClassifyBody) and never reaches a target, and a slow client holds
// no upstream connection while it uploads. n must be at most
// MaxReplayBody (h1.MaxBody).
func readBody(body io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, forward.AsBodyError(err)
	}
	return buf, nil
}
