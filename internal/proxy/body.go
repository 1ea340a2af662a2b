package proxy

import (
	"bytes"
	"io"
	"net/http"

	"github.com/gantry-dev/gantry/internal/forward"
)

// A request body is the client's: a failure to read it is wrapped in a
// *pipeline.BodyError where it is read (requestBody, bufferBody,
// readBody) and answered by forward.ClassifyBody (see package forward).
// A body is buffered at most once per request: by bufferBody when it may be
// sent again, else by readBody for the direct path.

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

// bufferBody reads r's body for replay when it is at most MaxReplayBody. A
// larger one is returned as body (what was read, then the rest) with ok
// false: it streams, and the request gets no retry. A read error is a
// *pipeline.BodyError.
func bufferBody(r *http.Request) (replay []byte, body io.ReadCloser, ok bool, err error) {
	if r.ContentLength > MaxReplayBody {
		return nil, r.Body, false, nil
	}
	if r.ContentLength > 0 {
		replay, err = readBody(r.Body, r.ContentLength)
		return replay, nil, err == nil, err
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, MaxReplayBody+1))
	if err != nil {
		return nil, nil, false, forward.AsBodyError(err)
	}
	if len(buf) > MaxReplayBody {
		return nil, readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}, false, nil
	}
	if buf == nil {
		buf = []byte{}
	}
	return buf, nil, true, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
