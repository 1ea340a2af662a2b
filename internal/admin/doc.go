// Package admin serves the admin listener: liveness and readiness, Prometheus
// metrics, and the /admin/... API (routes, upstreams, status, config,
// reload, consumers and keys, usage reports and invoices). It is on the
// control path only; nothing here runs per proxied request.
//
// /admin/... requires "Authorization: Bearer <admin.token>" when a token is
// configured; config validation refuses a non-loopback admin listener
// without one. With or without a token, every path but /healthz, /readyz
// and /metrics answers only to the listener's own Host names and Origin,
// and writes take JSON bodies only (guard.go), so a web page cannot drive
// the API through the operator's browser.
package admin
