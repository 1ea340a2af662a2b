// Package server owns the client-facing listener and the top of the request
// path: it closes the holes Go's HTTP server leaves open (package wire),
// creates the per-request Exchange, matches the route in the current
// generation's router.Table and runs the route's chain, which package
// route built. It is the
// only place that writes gateway error responses, and it owns every
// response: its one recorder (responseWriter) applies the route's CORS
// policy to relayed answers and gateway errors alike and counts the bytes
// both ways, hijacked (WebSocket) connections included. It is the one
// writer of Exchange.Status and Exchange.Err (pipeline.Outcome of what the
// chain returned and what its recorder saw sent), and it observes every
// finished request for metrics, usage and the access log. A gRPC call gets
// the gateway's errors as trailers-only gRPC answers (grpc.go), and its
// recorder reads every call's grpc-status, relayed or the gateway's own.
// On the TLS listener it terminates TLS itself (tls.go): the certificate
// is chosen by SNI from server.tls's certificates, whose files it reads
// again when they change (certs.go), or obtained and renewed over ACME by
// certmagic for server.tls.acme's domains (acme.go, started by Listen),
// and client certificates are verified against client_ca_file during the
// handshake.
//
// On the control path it is the last step: config.Load → Validate → plan
// (pure: every pool, plugin, key file, certificate and route chain, via
// router.Compile and route.Build; what `gantry validate` runs) → activate (JWKS first
// fetch, key cache feed, then the config consumers into storage) → swap
// (cannot fail). Reloads build a whole new generation off to the side and
// swap it in atomically; a failure before the swap changes nothing the
// running generation depends on. Requests in flight finish on the
// generation they started with.
//
// It must not build routes itself: how a route's chain and terminal are
// assembled belongs to package route.
package server
