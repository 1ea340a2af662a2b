package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// Classify turns a failure before the response started into the status the
// client is answered with. It is the one place that maps upstream errors
// (style guide §7) for every terminal. Messages go to clients, so they never carry addresses or
// the upstream's own words; the cause stays in Err for the log.
//
// canceled is true when the client's context was canceled; tooLarge when the
// request body went over its limit while streaming.
func Classify(err error, canceled, tooLarge bool) *pipeline.HTTPError {
	e := func(status int, msg string) *pipeline.HTTPError {
		return &pipeline.HTTPError{Status: status, Code: pipeline.CodeFor(status), Message: msg, Err: err}
	}
	var mbe *http.MaxBytesError
	switch {
	case canceled:
		return e(pipeline.StatusClientClosed, "client closed the request")
	case tooLarge || errors.As(err, &mbe):
		he := e(http.StatusRequestEntityTooLarge, "request body is too large")
		if mbe != nil {
			he.Message = "request body is larger than the limit"
		}
		// The rest of the body is unread; closing beats draining it.
		he.Close = true
		return he
	case errors.Is(err, context.DeadlineExceeded):
		return e(http.StatusGatewayTimeout, "upstream did not answer in time")
	}
	if msg, ok := connectFailure(err); ok {
		return e(http.StatusBadGateway, msg)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// Past connecting, the only timeout is timeouts.response.
		return e(http.StatusGatewayTimeout, "upstream did not answer in time")
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
		return e(http.StatusBadGateway, "upstream closed the connection")
	}
	return e(http.StatusBadGateway, "upstream sent no valid response")
}

// connectFailure reports whether err happened while connecting (dial or
// TLS handshake), with a client-safe message. A connect timeout is a 502,
// not a 504: the upstream was never asked, and the contract keeps 504 for
// timeouts.response.
func connectFailure(err error) (string, bool) {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return "upstream refused the connection", true
		case oe.Timeout():
			return "connecting to upstream timed out", true
		}
		return "cannot connect to upstream", true
	}
	var (
		rhe *tls.RecordHeaderError
		cve *tls.CertificateVerificationError
		ae  tls.AlertError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
	)
	if errors.As(err, &rhe) || errors.As(err, &cve) || errors.As(err, &ae) ||
		errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) ||
		// The transport's handshake timeout has no exported type.
		strings.Contains(err.Error(), "TLS handshake timeout") ||
		// An alert from the upstream (crypto/tls wraps it as a "remote
		// error"): with TLS 1.3 a server that refuses the client
		// certificate says so only after the client's handshake ended,
		// on the first read.
		(errors.As(err, &oe) && oe.Op == "remote error") {
		return "TLS handshake with upstream failed", true
	}
	return "", false
}

// Cause names why an attempt that got no answer failed, for the upstream
// metrics: a connect failure (dial or TLS handshake, a connect timeout
// included), a timeout waiting for the answer, or anything else. It follows
// Classify's rules, so a 504 is always a timeout and a connect failure
// never one.
func Cause(err error) upstream.Cause {
	switch {
	case err == nil:
		return upstream.CauseUnknown
	case errors.Is(err, context.DeadlineExceeded):
		return upstream.CauseTimeout
	}
	if _, ok := connectFailure(err); ok {
		return upstream.CauseConnect
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return upstream.CauseTimeout
	}
	return upstream.CauseOther
}
