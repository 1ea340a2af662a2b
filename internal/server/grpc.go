package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// rpcKind says whether a request is a gRPC call, and which framing its
// client reads.
type rpcKind uint8

const (
	notRPC rpcKind = iota
	// rpcGRPC is application/grpc, alone or with a +format suffix or
	// parameters: gRPC over HTTP/2 (PROTOCOL-HTTP2.md).
	rpcGRPC
	// rpcWeb and rpcWebText are gRPC-Web (PROTOCOL-WEB.md), whose
	// trailers travel in the body, except in a trailers-only answer.
	rpcWeb
	rpcWebText
)

// rpcKindOf classifies a request or response by its Content-Type. The
// media type is matched without regard to case (RFC 9110 §8.3.1).
func rpcKindOf(h http.Header) rpcKind {
	ct := h["Content-Type"]
	if len(ct) == 0 {
		return notRPC
	}
	v := ct[0]
	const base = "application/grpc"
	if len(v) < len(base) || !strings.EqualFold(v[:len(base)], base) {
		return notRPC
	}
	v = v[len(base):]
	kind := rpcGRPC
	switch {
	case len(v) >= 9 && strings.EqualFold(v[:9], "-web-text"):
		kind, v = rpcWebText, v[9:]
	case len(v) >= 4 && strings.EqualFold(v[:4], "-web"):
		kind, v = rpcWeb, v[4:]
	}
	if v == "" || v[0] == '+' || v[0] == ';' {
		return kind
	}
	return notRPC
}

// gRPC status codes (grpc/codes), the ones the gateway answers with.
const (
	grpcCancelled         = 1
	grpcUnknown           = 2
	grpcDeadlineExceeded  = 4
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

// grpcCode maps the HTTP status of a gateway error to the gRPC status a
// gRPC client gets instead. It follows gRPC's HTTP-to-gRPC mapping
// (doc/http-grpc-status-mapping.md, which Envoy's local replies use too)
// except where the gateway knows more than a status code tells a client:
// a rate limit or quota (429) and a body over max_body_bytes (413) are
// RESOURCE_EXHAUSTED, as gRPC servers answer their own limits, rather than
// UNAVAILABLE (which clients retry) or UNKNOWN; an upstream that did not
// answer in time (504) is DEADLINE_EXCEEDED rather than UNAVAILABLE; and a
// method the route does not serve (405) is UNIMPLEMENTED like a path no
// route serves (404).
func grpcCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return grpcInternal
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return grpcUnimplemented
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return grpcDeadlineExceeded
	case http.StatusRequestEntityTooLarge, http.StatusRequestHeaderFieldsTooLarge, http.StatusTooManyRequests:
		return grpcResourceExhausted
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return grpcUnavailable
	case http.StatusInternalServerError:
		return grpcInternal
	case pipeline.StatusClientClosed:
		return grpcCancelled
	}
	return grpcUnknown
}

// writeGRPCError answers a gRPC call with a gateway error as a
// trailers-only response: HTTP 200, the gRPC content type, and grpc-status
// and grpc-message in the header block, which Go's HTTP/2 server sends with
// END_STREAM since no body follows. h already holds the error's own headers
// (Retry-After, RateLimit-*, WWW-Authenticate, Allow), which gRPC clients
// read as metadata.
func writeGRPCError(w *responseWriter, kind rpcKind, status int, msg string) {
	h := w.Header()
	switch kind {
	case rpcWebText:
		h.Set("Content-Type", "application/grpc-web-text")
	case rpcWeb:
		h.Set("Content-Type", "application/grpc-web")
	default:
		h.Set("Content-Type", "application/grpc")
	}
	// A trailers-only answer announces no trailers.
	h.Del("Trailer")
	h["Grpc-Status"] = []string{strconv.Itoa(grpcCode(status))}
	h["Grpc-Message"] = []string{grpcMessage(msg)}
	w.WriteHeader(http.StatusOK)
}

// grpcMessage percent-encodes s as grpc-message requires: every byte
// outside printable ASCII, and '%' itself, becomes %XX (PROTOCOL-HTTP2.md,
// "Percent-Encoded").
func grpcMessage(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b = append(b, '%', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// grpcOutcome returns the grpc-status a gRPC call ended with, as the
// recorder saw it sent: in the header of a trailers-only answer (the
// gateway's errors among them) or in the trailer of a relayed one. Without
// one it is "1" (CANCELLED) for a call whose client went away (status
// 499), "" for a gRPC-Web call (which carries its status in the body),
// and otherwise "unknown": an answer that was not gRPC, or a stream that
// broke before its trailer. A status other than 0 to 16 is "unknown" too,
// so an upstream cannot mint values.
func grpcOutcome(w *responseWriter, kind rpcKind, status int) string {
	if w.wroteHeader {
		h := w.Header()
		if rpcKindOf(h) != notRPC {
			if v := h["Grpc-Status"]; len(v) > 0 {
				return telemetry.GRPCStatusLabel(v[0])
			}
			if v := h[http.TrailerPrefix+"Grpc-Status"]; len(v) > 0 {
				return telemetry.GRPCStatusLabel(v[0])
			}
		}
	}
	if status == pipeline.StatusClientClosed {
		return strconv.Itoa(grpcCancelled)
	}
	if kind != rpcGRPC {
		return ""
	}
	return telemetry.GRPCStatusLabel("")
}
