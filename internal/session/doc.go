// Package session keeps the browser sessions of the gateway's web pages
// (the operator dashboard on the admin listener, the consumer portal): after a sign-in, an
// opaque random id travels in an HttpOnly, SameSite=Strict cookie (Secure
// over TLS) and names a session held here, in memory, with an idle timeout
// and a maximum age. Each session carries a CSRF token that the page holds
// in memory and sends back in the X-CSRF-Token header on every write;
// Check compares it in constant time. Throttle limits failed sign-ins per
// client address.
//
// It sits on the control path only, beside admin: nothing here runs per
// proxied request. It must not import admin, server or any request-path
// package, so that other web pages of the gateway can use it too. Sessions
// are per process: a restart signs everyone out, and nodes do not share
// them.
package session
