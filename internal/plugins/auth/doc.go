// Package auth is the Auth phase of a route's chain: it applies the route's
// methods (api_key, jwt:NAME, mtls) to the credentials a request presents
// (an API key, a bearer token, a verified client certificate), requires every one presented to verify,
// enforces allow_groups, and records the consumer, taken from the first
// method listed that verified, on the Exchange for the proxy
// (X-Consumer-ID, X-Consumer-Groups), rate limits and metering. A bearer
// token no method of the route verified is never forwarded.
//
// After the credentials, the route's gates (external:NAME, auth/external)
// decide for every request: a refusal is relayed to the client as the
// service answered it, and an allowed request gets the service's headers.
//
// The methods themselves live in auth/keyauth, auth/jwt, auth/mtls and
// auth/external; this package only combines them. It imports no other
// plugin's internals beyond their Authenticate methods, through the Method
// interface, and the external service's Decision, through the Gate
// interface.
package auth
