// Package proxy is the terminal handler that forwards a request to an
// upstream: directly through the gateway's HTTP/1.1 client (package h1) for
// plain HTTP/1.1 exchanges, over httputil.ReverseProxy (Rewrite, never
// Director) with net/http's Transport for the rest (direct.go says which).
// Both paths build the same outbound request and relay the answer by the
// same rules; parity tests hold them to it. The routes of one upstream
// share one ReverseProxy per transport (Relays): its hooks find the
// route's handler through the attempt, so a route costs its handler only.
//
// The rules it shares with the other terminals (trusted peers, client IP,
// X-Forwarded-*, hop-by-hop and gateway-owned headers, header rules, error
// classification, when a retry is safe) live in package forward; this
// package applies them. The attempt loop itself (first target, tried
// targets, retry budget, reports) is upstream.Attempts, which aggregate
// calls run too; the proxy decides whether each failure may be retried.
//
// On the request path it is the last step of a route chain:
//
//	server → router → route chain → terminal (proxy) → upstream.Pool.Pick → upstream
//
// The server has already checked the request (smuggling, CONNECT, header
// names with "_", Upgrade), matched the route, stored the forward path in
// Exchange.Path and capped the body. The handler picks a target, builds the
// outbound request (target URL, Host, X-Forwarded-*, X-Request-ID,
// X-Consumer-*, route header rules), streams both bodies without buffering,
// and classifies a failure by the gateway's one rule (forward.Classify): dial error, reset or bad
// answer → 502, response timeout → 504, client gone → 499, body over the
// limit → 413. It records Upstream, Target, Attempts and WebSocket on the
// Exchange; the outcome (Status, Err) and the bytes to and from the client
// are the server's to record, from the error the handler returns. A request whose body may be retried is buffered
// (see below), and so is a body of known length up to 64 KiB going the
// direct way (read whole before any upstream is contacted); every other
// body streams.
//
// A failure to read the client's body (body.go) is the client's, whatever
// carried it: the read error is wrapped in a *pipeline.BodyError where the
// body is read, the answer follows its cause (malformed or short 400,
// read_timeout 408, over the limit 413, client gone 499), and the attempt
// is neither a passive-health failure, nor retried, nor counted in
// gantry_upstream_requests_total.
//
// Decisions on the outbound request:
//   - X-Forwarded-For keeps the incoming value only from a trusted peer
//     and appends the peer; from anyone else it is replaced by the peer.
//   - Forwarded (RFC 7239) is removed and not rebuilt: X-Forwarded-* is
//     the contract, and two sets of forwarding headers could disagree.
//   - X-Real-IP is set to the client address the gateway trusts
//     (Exchange.ClientIP), as Kong and Traefik do, so a client cannot
//     plant one.
//   - The query goes as the client sent it, byte for byte.
//   - Headers set here (and the route's request_headers rules, applied
//     last) are set after hop-by-hop stripping, so naming them in
//     Connection cannot remove them.
//
// Attempts and retries: every attempt runs through upstream.Attempts and is
// reported to its target (Begin, Done): in-flight count, latency to the
// response header, and the outcome by upstream.Classify (success, failure
// for passive ejection and gantry_upstream_requests_total, or canceled when
// the client's side failed). A request gets up to the upstream's retries
// extra attempts, each on a target it has not tried (Attempts.Next), when
//   - its method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE), or the
//     route sets retry_non_idempotent, and it is not a protocol upgrade;
//   - its body can be replayed: none, or at most MaxReplayBody (64 KiB),
//     which is then read into memory before the first attempt (only for
//     requests that may be retried);
//   - nothing has been written to the client yet;
//   - the attempt failed to connect, the connection was closed or reset
//     before an answer, or the upstream answered 502, 503 or 504 (that
//     answer is discarded). Other 5xx come from the application and are
//     relayed. A response timeout is not retried: the upstream may still
//     be working, and each retry would add a whole timeout;
//   - the upstream's retry budget has a token (upstream.RetryBudget: about
//     20% of requests plus 3 a second), so retries cannot multiply the load
//     of an upstream that is down.
//
// Any other request (POST, PATCH, ...) gets those extra attempts too, but
// only after a failure before any byte of it was written to the target
// (forward.NotSent: a dial error such as a refused connection, or a pooled
// connection found dead before writing), which the target cannot have acted
// on, as NGINX and Envoy decide; its body must be of known length and at
// most MaxReplayBody (read into memory first), and each such retry draws on
// the same retry budget. A request that was written, even in part, is never
// sent again, and an answer (502/503/504 included) is relayed.
//
// Exchange.Attempts counts the attempts and Exchange.Target names the last
// target.
//
// On the response, the upstream's hop-by-hop headers are removed, the
// route's response_headers rules applied, and an upstream X-Request-ID
// dropped when the server already set one; nothing else is added.
//
// WebSocket: the upgrade goes through ReverseProxy's upgrade handling; the
// hijacked client connection is wrapped (wsConn) so that both directions
// pass through it without added buffering: it reads frame headers to count
// data messages each way (RFC 6455 section 5.2; payloads are skipped, not
// unmasked), stamps the last activity, and enforces the route's websocket
// limits. A connection idle for idle_timeout, open for max_lifetime, whose
// route a reload removed, or still open when the server's shutdown grace
// ends, is closed on both sides; the client first gets a close frame 1001
// when no write is in progress and the stream is at a frame boundary, and
// the upstream gets the same frame, masked as a client's, when the client's
// stream is at a frame boundary and the client sent no close frame. The
// message counts, the connected time and the reason it ended go into
// Exchange.WebSocket before the handler returns, and into the
// gantry_websocket_* metrics. WebSockets is the server's registry of open
// connections, for shutdown and reloads.
//
// gRPC calls are relayed like any other exchange, trailers included; the
// server's recorder reads their grpc-status for the access log and
// gantry_grpc_responses_total.
//
// The handler never writes an error body: it returns a *pipeline.HTTPError
// and package server renders it. Once the upstream's response has started,
// a failure can only abort the client connection; the handler then returns
// an error wrapping http.ErrAbortHandler.
//
// Mirror (mirror.go) is a route step, not a terminal: it copies a sample of
// admitted requests, bodies of known length up to MaxMirrorBody read whole
// first, to another upstream from a bounded queue; its workers start on
// the first copy and exit when idle, so no generation needs to stop them.
//
// On the control path, server builds one handler per route per config
// generation (New). Connections are not per generation: Transports hands out
// one shared Transport (an h1 client and a net/http Transport) per
// (timeouts, protocol), so reloads keep their connection pools and start no
// goroutines. http.DefaultTransport and HTTP_PROXY are never used.
package proxy
