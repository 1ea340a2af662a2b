// Package cors answers CORS preflight requests at the gateway and decorates
// actual cross-origin responses, per the Fetch standard's CORS protocol.
//
// It is route data, not a step of the route's chain: the server applies
// Decorate in one place, when a response's final header is written, so that
// relayed answers and the gateway's own errors (401, 413, 429, 502, ...)
// carry the same CORS headers; and it answers a preflight with Preflight
// when one is routed as the request it announces. It imports only config
// and pipeline.
package cors
