// Package wire closes the holes Go's HTTP/1 server leaves open for a
// gateway: request smuggling framing, path canonicalisation, header names.
//
// It sits at the very top of the request path, before routing: the server
// serves its listener through NewListener (or Wrap) with ConnContext as
// http.Server.ConnContext, and its Handler starts with Check, then
// CanonicalPath and Sanitize: DropAmbiguousHeaders, StripUpgrade,
// DropConnectionListed and, for peers that are not trusted proxies,
// DropForwarding, with one walk over the header; or SanitizeNames, which
// skips that walk when a parser that classified every name as it read it
// (CanonicalizeName, NameClass: the one rule for what the hygiene does
// with a name) found none it acts on. The proxy forwards
// EscapePath of the canonical path. It writes no responses of its own: it
// only rewrites net/http's canned text/plain answers to requests the HTTP
// server refuses before any Handler runs (malformed request line, invalid
// header, 431) into the contract's JSON (canned.go; set ConnState as
// http.Server.ConnState). It imports only package pipeline, for the errors
// it returns, and jsonstr.
//
// # Framing
//
// Go's server accepts requests that carry both Transfer-Encoding and
// Content-Length (it uses the chunked body and keeps the connection), honours
// Content-Length over Transfer-Encoding on HTTP/1.0, unfolds obs-fold lines
// and accepts bare LF line ends. A front end and a back end that frame such a
// request differently see different requests: smuggling. None of this is
// visible to a Handler afterwards (Go deletes the losing header), so the
// check has to watch the bytes: the wrapped connection runs a streaming
// parser over everything the server reads and records, per connection, the
// index of the first request whose framing was bad. Check pairs each request
// with its index by counting calls. Requests after a broken chunked body are
// refused too, since nothing after it can be framed reliably.
//
// When the parser meets something it cannot classify (most of which Go's own
// parser refuses anyway) it stops watching that connection and Check passes
// from there on: it fails open only when it is not sure.
//
// A hand-made check at Handler level (say, Content-Length with
// Transfer-Encoding) is not offered: by then Go has already removed the
// evidence.
//
// # Paths
//
// CanonicalPath gives each request path one spelling, so that routing,
// limits and the upstream agree on what was asked: "/public/%2e%2e/admin" is
// "/admin", and "/public/..%2fadmin" stays a single segment "..%2Fadmin"
// under /public (flagged as an encoded slash, which the server refuses unless
// the route allows it).
//
// # Headers
//
// DropAmbiguousHeaders, DropConnectionListed, DropForwarding and StripUpgrade
// remove headers that would let a client impersonate the gateway's own
// headers, remove them from the upstream request by naming them in
// Connection, speak for a proxy it is not, or switch the upstream
// connection to another protocol.
package wire
