// Package auth is the Auth phase of a route's chain: it applies the route's
// methods (api_key, jwt:NAME, mtls) to the credentials a request presents
// (an API key, a bearer token, a verified client certificate), requires every one presented to verify,
// enforces allow_groups, and records the consumer, taken from the first
// method listed that verified, on the Exchange for the proxy
// (X-Consumer-ID, X-Consumer-Groups), rate limits and metering. A bearer
// token no method of the route verified is never forwarded.
//
// The methods themselves live in auth/keyauth, auth/jwt and auth/mtls; this package
// only combines them. It imports no other plugin's internals beyond their
// Authenticate methods, through the Method interface.
package auth
