// Package external asks an external authorization service about a request
// (forward-auth, as Traefik's ForwardAuth and NGINX's auth_request do): one
// configured service (auth.external[] in the config), referred to by
// routes as external:NAME.
//
// It is a gate of the Auth phase of a route's chain: the auth plugin calls
// Service.Check for every request of the route, after the route's
// credential methods. The service gets a GET describing the request
// (X-Forwarded-Method, X-Forwarded-Uri from the canonical path the router
// used, the gateway's X-Forwarded-* and the configured client headers); a
// 2xx answer allows and names the headers to set upstream, any other
// answer is relayed to the client. On the control path a Service is built
// by Build when a configuration is planned (no goroutine, no network) and
// lives as long as its generation; its cache goes with it.
//
// The package must not write responses or read request bodies; it sends
// no client header the configuration does not list, and never caches an
// answer it could not read whole or a 5xx.
package external
