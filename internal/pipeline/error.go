package pipeline

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes are the stable "error" field of the gateway's JSON error body
// (see the contract's status table).
const (
	CodeNotFound          = "not_found"
	CodeMethodNotAllowed  = "method_not_allowed"
	CodeBadRequest        = "bad_request"
	codeRequestTimeout    = "request_timeout"
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeRateLimited       = "rate_limited"
	CodeQuotaExceeded     = "quota_exceeded"
	CodeBodyTooLarge      = "body_too_large"
	CodeHeaderTooLarge    = "header_too_large"
	CodeBadGateway        = "bad_gateway"
	CodeNoHealthyUpstream = "no_healthy_upstream"
	CodeUpstreamTimeout   = "upstream_timeout"
	CodeAggregateFailed   = "aggregate_failed"
	CodeClientClosed      = "client_closed_request"
	CodeInternal          = "internal_error"
	CodeNotImplemented    = "not_implemented"
	// CodeOverloaded is the 503 of a request shed by
	// server.limits.max_concurrent_requests.
	CodeOverloaded = "overloaded"
	// CodeAuthUnavailable is the 503 of a route whose external
	// authorization service could not decide (down, slow, 5xx) under
	// on_failure: deny.
	CodeAuthUnavailable = "auth_unavailable"
	// CodeModelNotAllowed is the 403 of a request to a route with llm
	// whose "model" the route's models do not list.
	CodeModelNotAllowed = "model_not_allowed"
)

// StatusClientClosed is the status recorded (never sent) when the client
// went away before the answer was ready, as NGINX's 499.
const StatusClientClosed = 499

// HTTPError is an error with the status and code the client is answered with.
// Header holds extra response headers such as Allow or Retry-After.
type HTTPError struct {
	Status  int
	Code    string
	Message string
	Header  http.Header
	// Close asks the server to close the client connection after answering.
	Close bool
	Err   error
}

// Error returns the message, or the wrapped error's text.
func (e *HTTPError) Error() string {
	if e.Err != nil {
		if e.Message != "" {
			return e.Message + ": " + e.Err.Error()
		}
		return e.Err.Error()
	}
	if e.Message != "" {
		return e.Message
	}
	return http.StatusText(e.Status)
}

// Unwrap returns the underlying cause.
func (e *HTTPError) Unwrap() error { return e.Err }

// BodyError is a failure to read the client's request body: chunked
// framing net/http refused, a body shorter than its Content-Length (an
// HTTP/2 stream ending before its content-length), the server's
// read_timeout cutting it, the client gone, the body limit. It is the
// client's failure, never an upstream's, whichever transport carried it:
// terminals wrap the error where the body is read, so errors.As finds it
// through net/http's Transport and the gateway's own HTTP/1.1 client.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "reading the request body: " + e.Err.Error() }

// Unwrap returns the read error.
func (e *BodyError) Unwrap() error { return e.Err }

// Error wraps err with a status. If err already is (or wraps) an HTTPError,
// that one is returned unchanged so the first, most specific status wins.
func Error(status int, err error) *HTTPError {
	var he *HTTPError
	if errors.As(err, &he) {
		return he
	}
	e := &HTTPError{Status: status, Code: CodeFor(status), Err: err}
	if err != nil {
		e.Message = err.Error()
		e.Err = nil
	}
	return e
}

// Errorf builds an HTTPError with an explicit code and a formatted message.
func Errorf(status int, code, format string, args ...any) *HTTPError {
	return &HTTPError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeFor returns the default error code for a status.
func CodeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusRequestTimeout:
		return codeRequestTimeout
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return CodeBodyTooLarge
	case http.StatusRequestHeaderFieldsTooLarge:
		return CodeHeaderTooLarge
	case http.StatusTooManyRequests:
		return CodeRateLimited
	case http.StatusBadGateway:
		return CodeBadGateway
	case http.StatusServiceUnavailable:
		return CodeNoHealthyUpstream
	case http.StatusGatewayTimeout:
		return CodeUpstreamTimeout
	case http.StatusNotImplemented:
		return CodeNotImplemented
	case StatusClientClosed:
		return CodeClientClosed
	}
	return CodeInternal
}
