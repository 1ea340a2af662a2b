// Package admin serves the admin listener: liveness and readiness, Prometheus
// metrics, and the /admin/... API (routes, upstreams, status, config,
// reload, consumers and keys, usage reports and invoices). It is on the
// control path only; nothing here runs per proxied request.
//
// /admin/... requires "Authorization: Bearer <admin.token>" when a token is
// configured; config validation refuses a non-loopback admin listener
// without one. With or without a token, every path but /healthz, /readyz
// and /metrics answers only to the listener's own Host names and Origin,
// and writes take JSON bodies only (package hostguard), so a web page cannot drive
// the API through the operator's browser.
//
// With admin.ui on, the listener also serves the operator dashboard
// (package ui) at /ui/, and /admin/session exchanges the admin token for
// a session cookie (package session); a request signed in by that cookie
// instead of a bearer token must carry the session's CSRF token on every
// write (ui.go).
package admin
