// Package auth is the Auth phase of a route's chain: it tries the route's
// methods (api_key, jwt:NAME) in order, takes the first that recognises
// credentials, enforces allow_groups, and records the consumer on the
// Exchange for the proxy (X-Consumer-ID, X-Consumer-Groups), rate limits and
// metering.
//
// The methods themselves live in auth/keyauth and auth/jwt; this package
// only combines them. It imports no other plugin's internals beyond their
// Authenticate methods, through the Method interface.
package auth
