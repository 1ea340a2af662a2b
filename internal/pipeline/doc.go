// Package pipeline defines the shapes every step of the request path shares:
// Handler, Middleware, the per-request Exchange and the gateway's HTTPError.
//
// It sits under everything on the request path (server → router → plugins →
// proxy) and imports no other internal package, so any of them may use it.
package pipeline
