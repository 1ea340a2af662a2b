// Package cors answers CORS preflight requests at the gateway and decorates
// actual cross-origin responses, per the Fetch standard's CORS protocol.
//
// It runs in the Policy phase of a route's chain (before the terminal), and
// its preflight answer is given by the server when a preflight is routed as
// the request it announces. It imports only config and pipeline.
package cors
