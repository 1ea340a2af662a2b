// Package h1 is the gateway's HTTP/1.1 client for plain-HTTP upstreams, and
// for HTTP/1.1 over TLS when given a TLS configuration (tls.go): an
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
// net/http's Transport instead: TLS without a configuration, HTTP/2 (over
// TLS, ALPN offers http/1.1 only), protocol upgrades, CONNECT,
// request bodies of unknown length or larger than MaxBody (writing those
// while the upstream may already answer needs a second goroutine),
// Expect: 100-continue, proxies. The response reader (response.go)
// follows net/http's http.ReadResponse in body framing, trailers and the
// checks against response smuggling, and is stricter where a gateway must
// be; FuzzResponse holds the two together.
//
// A caller that only copies the answer's header on, as the proxy's direct
// path does, asks for it as a list (Outbound.List): names and values in the
// order they came, and no header map built. An answer whose header holds a
// field framing reads besides one Content-Length (Connection,
// Transfer-Encoding, Trailer, repeated lengths) comes as a map anyway, so
// every framing decision is made on the one path; FuzzResponse reads every
// answer both ways.
//
// A caller with several requests to make writes them all first
// (Transport.Start) and reads the answers after (Pending.Finish), on one
// goroutine: the same checks and the same retry decision as a round trip,
// cut in two. Pending.Slow tells the caller when an answer is late, so it
// can hand the others to other goroutines. Such a caller keeps each
// request's state anyway, and can lend the room the answer is read into
// with it (Outbound.Room, an Answer) instead of an allocation per answer.
//
// Connection reuse follows net/http: a connection goes back to the pool once
// the response body was read to its end and neither side asked to close it.
// A response body closed early closes its connection. A pooled connection
// never hands out a byte nobody asked for: one with bytes buffered past
// the response it just carried (a body after HEAD, 204 or 304, a second
// answer) is closed instead of pooled, and every idle connection is checked
// before use with one non-blocking peek (no goroutine per idle
// connection), which drops it when a byte, an end of stream or an error
// waits on it. A reused connection that fails before any byte of the
// answer arrived (the upstream closed it just after the check) is retried
// once on a new connection when the request has no body and is
// idempotent. A request of which nothing was written (a dial error, a
// first write that failed) fails with a NotSentError, so the caller may
// send it elsewhere whatever its method.
package h1
