package pipeline

import (
	"net/http"
)

// Handler serves one request and reports a failure as an error instead of
// writing an error body itself, so that one renderer (in package server)
// writes every gateway error and telemetry sees every failure.
//
// A Handler that has already written the response header must not return an
// HTTPError; it may return http.ErrAbortHandler to abort the connection.
type Handler interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request) error
}

// HandlerFunc adapts an ordinary function to Handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Middleware wraps a Handler with behaviour of its own.
type Middleware func(next Handler) Handler

// Chain applies mws around h so that mws[0] runs first.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
