// Package hostguard keeps other web pages in a user's browser away from
// the gateway's own listeners (the admin listener and the consumer portal):
// it refuses a request whose Host is not one of the listener's names (DNS
// rebinding) or whose Origin is foreign, and tells a listener whether a
// write's body is JSON, which a foreign page cannot send without a CORS
// preflight.
//
// It is on the control path only, beside admin and portal, and imports
// nothing of the gateway but wire.
package hostguard
