// Package engine is the gateway's own HTTP/1.1 server for client
// connections, plain or over TLS: the first step of the request path, under
// server.Handler. It serves the connections its listener gives it; TLS is
// terminated before (package server's TLS listener does the handshake and
// gives HTTP/1.1 connections here, HTTP/2 ones to net/http), and a
// connection that has a ConnectionState method gives each request that
// state as Request.TLS, as on Go's server. HTTP/2 over TLS and cleartext
// HTTP/2 with prior knowledge stay with net/http: a connection that opens
// with the HTTP/2 preface is handed to the H2C function unread.
//
// It exists for speed and for strictness. net/http's server starts a
// goroutine per request to notice a client that goes away, snapshots the
// response header into a new map on every WriteHeader, and reads a request
// it parses leniently (both Transfer-Encoding and Content-Length, bare LF
// line ends, obs-fold), which the gateway then had to re-scan byte by byte
// (package wire) to refuse. Here one goroutine per connection reads a
// request, runs the handler on it and writes the answer: a request's header
// block is copied into one string that every header value slices, the
// response header is serialised once, and header and a short body leave in
// one write. A client that goes away is noticed by a read started only for
// requests that are still running after watchAfter (most requests are done
// well before), so the common request pays no goroutine and no extra read.
//
// # What it accepts
//
// The parser refuses, before any handler runs and with the contract's JSON
// error and Connection: close, everything net/http refuses and everything
// package wire refuses on top (see docs/security.md): a request line that is
// not "METHOD SP request-target SP HTTP/1.x CRLF"; a line ending in a bare
// LF, a bare CR anywhere; obs-fold; a header name that is not a token or is
// followed by white space; a header value with a control character other
// than HTAB; a missing (HTTP/1.1), repeated or malformed Host; both
// Transfer-Encoding and Content-Length; Transfer-Encoding on HTTP/1.0 or
// other than a single "chunked" (501); a Content-Length that is not digits or
// that repeats with another value; a header block larger than
// MaxHeaderBytes (431); an HTTP version other than 1.x (505). Chunked bodies
// are read strictly: hex sizes of at most 16 digits, CRLF after every line
// and every chunk's data, a bounded trailer section. A body that breaks
// fails the handler's read with an error and closes the connection after
// the answer: nothing after it is parsed as another request.
//
// The request the handler gets is what net/http would have built from the
// same bytes (method, URL and RequestURI, Proto, Header with canonical
// keys, Host, ContentLength, TransferEncoding, Close, Trailer, RemoteAddr,
// a context canceled when the client goes away or the handler returns),
// so the handler cannot tell the servers apart. The fuzz target
// FuzzDifferential holds that to net/http's http.ReadRequest. Each header
// line is checked as it is read, one pass over its name (made canonical
// in place and classified for the header hygiene, wire.CanonicalizeName)
// and one over its value; the Context hook is told the names' classes, so
// the server can skip the hygiene's walk over a header that holds nothing
// for it (wire.SanitizeNames).
//
// # What it answers
//
// The ResponseWriter follows net/http's rules: the header is fixed at
// WriteHeader (later changes are ignored, but for trailers); without a
// Content-Length a body that fits the first buffer gets one, a longer one
// is chunked (HTTP/1.1) or delimited by the close (HTTP/1.0); HEAD, 1xx,
// 204 and 304 carry no body; Date is added; Content-Type is sniffed when
// the handler set none; trailers come from the Trailer header or
// http.TrailerPrefix keys. WriteHeaderFields is WriteHeader with more of
// the header given as a list of names and values, written after the map's
// fields with the same decisions, so that a proxy relays an upstream's
// header without building a map of it. It implements http.Flusher and http.Hijacker,
// and SetReadDeadline / SetWriteDeadline for http.ResponseController.
// After the handler, an unread request body of up to 256 KiB is read and
// dropped so the connection can be reused; a longer one closes it.
//
// # Timeouts
//
// ReadHeaderTimeout bounds a request's header block from its first byte,
// ReadTimeout the whole request (header and body), WriteTimeout the answer
// from the end of the header block, IdleTimeout the wait for a next request
// on a kept-alive connection, as in net/http.
package engine
