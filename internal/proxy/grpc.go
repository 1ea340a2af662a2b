package proxy

import (
	"net/http"
	"strings"
)

// isGRPC reports whether h is the header of a gRPC response:
// application/grpc, alone or with a +format suffix or parameters. gRPC-Web
// (application/grpc-web) carries its status in the body and is not counted.
func isGRPC(h http.Header) bool {
	ct := h["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	rest, ok := strings.CutPrefix(ct[0], "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// grpcStatus returns the grpc-status of a trailer (or a trailers-only
// header), "" when there is none.
func grpcStatus(h http.Header) string {
	if v := h["Grpc-Status"]; len(v) > 0 {
		return v[0]
	}
	return ""
}
