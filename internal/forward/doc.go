// Package forward holds the rules every terminal follows when it forwards a
// client's request to an upstream and relays the answer, so that proxied
// routes, aggregate calls and lambda invocations behave as one gateway.
// Its one job is to say what crosses the gateway and how a failure is
// answered; it sends nothing itself.
//
// On the request path it sits under the terminals:
//
//	server → router → route chain → terminal (proxy | aggregate | lambda) → upstream
//	                                        └── forward: the rules they share
//
// The server uses ParseTrusted when a generation is built, and ClientIP and
// TrustedPeer once per request; the terminals use the rest:
//
//   - trusted peers and the client address (trusted.go): ParseTrusted,
//     ClientIP (NGINX's real_ip_recursive walk), TrustedPeer;
//   - the headers the gateway sets on every upstream request
//     (forwarded.go): SetHeaders writes X-Forwarded-For/-Host/-Proto/-Port,
//     X-Real-Ip, X-Request-Id and X-Consumer-*;
//   - what crosses a hop (hop.go, headers.go): CopyEndToEnd,
//     RemoveHopByHop, StripOwned (the headers only the gateway sets),
//     DropGatewayOwned (an upstream's copy of what the gateway answers
//     with), and a route's request_headers and response_headers compiled
//     into Rules;
//   - failures (errors.go, body.go, retry.go): Classify maps an upstream
//     failure to 499, 502, 504 or 413 in one place; ClassifyBody and
//     BodyError answer a client whose body failed; Idempotent, NotSent,
//     Retryable and RetryStatus say when another target may be tried
//     (how many times, and which, is upstream.Attempts' to say).
//
// It must not pick targets, hold connections, report to passive health or
// write responses: those stay with the terminals, the upstream pools and
// the server. It imports only pipeline, config, wire and h1 (for
// h1.NotSentError); every function is safe for concurrent use.
package forward
