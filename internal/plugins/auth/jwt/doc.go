// Package jwt authenticates requests that carry "Authorization: Bearer
// <token>" against one configured JWT provider (auth.jwt[] in the config,
// referred to by routes as jwt:NAME).
//
// It is one method of the Auth phase of a route's chain: the auth plugin
// calls Provider.Authenticate on the request path and records the consumer
// on the Exchange. On the control path a Provider is built with Build
// when a configuration is planned (no goroutine, no network; a key file is
// read), started with Start when it is activated (a JWKS is fetched then),
// kept by later generations whose provider config is unchanged, and
// stopped with Close.
//
// Keys come from exactly one source: an HMAC secret (HS256/384/512), a PEM
// public key file, or a JWKS URL. A JWKS is fetched by Start, kept in
// memory as parsed keys, refreshed in the background as its Cache-Control
// allows, and refetched on an unknown kid at most once per 10 s; when the
// endpoint is down the cached keys keep working. Only the configured
// algorithms are accepted, "none" never, an HMAC check never uses a public
// key, and keys the token names itself (jku, x5u, jwk, x5c) are ignored.
//
// The package must not write responses or read request bodies, must not
// echo a token in errors or logs, and never blocks a request on the JWKS
// endpoint for longer than one fetch. It imports only config and pipeline
// of this module.
package jwt
