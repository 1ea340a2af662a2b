// Package mtls authenticates requests by the client certificate verified
// at the TLS handshake (server.tls.client_auth request or require),
// for routes with auth: [mtls].
//
// It is one method of the Auth phase of a route's chain: the auth plugin
// calls Method.Authenticate on the request path. The certificate field
// auth.mtls.consumer_from names (subject CN or the first DNS, URI or email
// SAN) is the consumer id, which a Resolver maps to a consumer, so the
// consumer's plan, limits and usage apply as for an API key. The method
// records the certificate's subject and SHA-256 fingerprint on the
// Exchange, which the forwarding rules send upstream.
//
// It verifies nothing itself: crypto/tls has verified the chain against
// client_ca_file before any request is read, and a request whose
// connection carries no verified chain presents no credential. It holds
// no state and starts nothing.
package mtls
