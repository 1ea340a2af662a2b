// Package portal serves the consumer portal on a listener of its own
// (config portal): a consumer signs in with one of its API keys, checked
// as the gateway checks them (keyauth.Verify), or with a token of an
// auth.jwt provider listed in portal.jwt, checked as routes check it
// (server.VerifyJWT); then it sees its plan, its limits and what is left
// of them now (read with Counter.Admit, which takes nothing), its own
// usage from the ledger and its invoices (package billing, as the admin
// API computes them), and creates and revokes its own API keys.
//
// Every answer is about the session's consumer: no endpoint takes a
// consumer id from the client. Sessions and the sign-in throttle are
// package session's (cookie gantry_portal_session, CSRF token on every
// write); the Host/Origin guard is package hostguard's; the pages are
// package ui's portal/ folder. It is on the control path only, beside
// admin: nothing here runs per proxied request.
package portal
