// Package conformance is Gantry's wire conformance suite: hostile and
// borderline exchanges sent as exact bytes to the built binary (HTTP/1.1
// over raw sockets, HTTP/2 with prior knowledge over a tiny hand-written
// framer), against upstreams scripted at the byte level that record what
// each connection received and can misbehave on purpose.
//
// Every case is one row of a table: the class of issue 13 it belongs to,
// what is sent, what the gateway must answer (status, JSON error code,
// connection closed), what the upstream must or must not receive, and
// where known what NGINX, HAProxy or Envoy do with the same bytes. Run
// with -v, each case logs one line:
//
//	class | case | sent | gateway answered | upstream received
//
// It also holds the acceptance checks of that issue: under a steady
// concurrent load with an upstream that now and then writes unsolicited
// bytes, no answer reaches the wrong request; and no malformed client
// input moves passive health or the upstream error metrics.
//
// The suite only drives the binary from outside (through internal/testkit);
// it never imports the gateway's packages, so it tests what ships.
package conformance
