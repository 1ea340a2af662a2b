package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Idempotent reports whether a request with this method may be sent again
// after it may have reached a target (RFC 9110, section 9.2.2: GET, HEAD,
// OPTIONS, PUT, DELETE). TRACE is never proxied, on purpose.
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// RetryStatus reports whether an upstream answer may be retried elsewhere:
// 502, 503 and 504 say the target (or something behind it) could not serve
// the request, so another target may. Other 5xx come from the application
// and would most likely fail again.
func RetryStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// NotSent reports whether a transport error says that no byte of the
// request reached the target: connecting failed (net/http's Transport
// returns the dialer's *net.OpError, Op "dial"), or the HTTP/1.1 client
// found its connection dead before writing (h1.NotSentError). Such a
// request may go to another target whatever its method, as NGINX and
// Envoy send it: the target cannot have acted on it.
func NotSent(err error) bool {
	var ns *h1.NotSentError
	if errors.As(err, &ns) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// Retryable reports whether a transport error leaves the request safe to
// send to another target: nothing of it was sent (NotSent), the connection
// failed, or the upstream closed or reset it before answering. Timeouts
// after sending are not: the upstream may still be working. An idempotent
// request is thus retried at least whenever a request that is not would be.
// Aggregate calls follow the same rule.
func Retryable(err error) bool {
	var be *pipeline.BodyError
	if errors.As(err, &be) {
		// The client's body failed: no target would do better.
		return false
	}
	if NotSent(err) {
		return true
	}
	if _, ok := connectFailure(err); ok {
		return true
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
