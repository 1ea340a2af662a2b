// Package h1 is the gateway's HTTP/1.1 client for plain-HTTP upstreams: an
// http.RoundTripper that writes the request and reads the response header
// on the caller's goroutine, over a per-address pool of keep-alive
// connections.
//
// It exists for speed. net/http's Transport runs two goroutines per
// connection (a reader and a writer) and hands every request and response
// between them and the caller over channels; on a proxy's hot path those
// hand-offs cost more CPU than parsing the response. Here a round trip is a
// write and a read by the goroutine that asked, and an idle connection is a
// slice entry under its address's own lock (there is no lock shared by all
// upstreams).
//
// What it does not do, it refuses with ErrUnsupported so the caller can use
// net/http's Transport instead: TLS, HTTP/2, protocol upgrades, CONNECT,
// request bodies of unknown length or larger than MaxBody (writing those
// while the upstream may already answer needs a second goroutine),
// Expect: 100-continue, proxies. Parsing is net/http's own
// (http.ReadResponse), so body framing, trailers and the checks against
// response smuggling are the standard library's.
//
// Connection reuse follows net/http: a connection goes back to the pool once
// the response body was read to its end and neither side asked to close it.
// A response body closed early closes its connection. A reused connection
// that fails before any byte of the answer arrived (the upstream closed it
// while idle) is retried once on a new connection when the request has no
// body and is idempotent. A connection is checked before use (one
// non-blocking peek) when it sat idle for over a second, and always for a
// request that could not be sent again, so a POST is not sent on a
// connection the upstream already closed.
package h1
