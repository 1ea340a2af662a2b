// Package admin serves the admin listener: liveness and readiness, Prometheus
// metrics, and the /admin/... API (routes, upstreams, status, config,
// reload, consumers and keys, usage reports and invoices). It is on the
// control path only; nothing here runs per proxied request.
//
// /admin/... requires "Authorization: Bearer <admin.token>" when a token is
// configured; config validation refuses a non-loopback admin listener
// without one.
package admin
