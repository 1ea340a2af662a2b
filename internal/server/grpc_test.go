package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

func TestRPCKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ct   string
		want rpcKind
	}{
		{"application/grpc", rpcGRPC},
		{"application/grpc+proto", rpcGRPC},
		{"application/grpc+json", rpcGRPC},
		{"application/grpc; charset=utf-8", rpcGRPC},
		{"Application/GRPC", rpcGRPC},
		{"application/grpc-web", rpcWeb},
		{"application/grpc-web+proto", rpcWeb},
		{"application/grpc-web-text", rpcWebText},
		{"application/grpc-web-text+proto", rpcWebText},
		{"application/grpcx", notRPC},
		{"application/grpc-webx", notRPC},
		{"application/grp", notRPC},
		{"application/json", notRPC},
		{"", notRPC},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.ct != "" {
			h.Set("Content-Type", tt.ct)
		}
		if got := rpcKindOf(h); got != tt.want {
			t.Errorf("rpcKindOf(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}

func TestGRPCMessage(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"credentials required", "credentials required"},
		{"", ""},
		{"100% used", "100%25 used"},
		{"line\nbreak\ttab", "line%0Abreak%09tab"},
		{"caf\u00e9", "caf%C3%A9"},
		{"~ and \x7f", "~ and %7F"},
	}
	for _, tt := range tests {
		if got := grpcMessage(tt.in); got != tt.want {
			t.Errorf("grpcMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestWriteErrorGRPC checks that a gRPC call gets every gateway error as a
// trailers-only answer with the mapped status and the error's headers.
func TestWriteErrorGRPC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		grpc   string
	}{
		{http.StatusBadRequest, "13"},
		{http.StatusUnauthorized, "16"},
		{http.StatusForbidden, "7"},
		{http.StatusNotFound, "12"},
		{http.StatusMethodNotAllowed, "12"},
		{http.StatusRequestTimeout, "4"},
		{http.StatusRequestEntityTooLarge, "8"},
		{http.StatusTooManyRequests, "8"},
		{http.StatusInternalServerError, "13"},
		{http.StatusBadGateway, "14"},
		{http.StatusServiceUnavailable, "14"},
		{http.StatusGatewayTimeout, "4"},
		{http.StatusTeapot, "2"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		// A partial upstream header must not leak into the answer.
		rec.Header().Set("Content-Length", "99")
		rec.Header().Set("Trailer", "Grpc-Status")
		err := pipeline.Errorf(tt.status, pipeline.CodeFor(tt.status), "50%% off")
		err.Header = http.Header{"Retry-After": {"7"}}
		w := &responseWriter{ResponseWriter: rec}
		writeError(w, &pipeline.Exchange{ID: "req-1"}, err, rpcGRPC)
		h := rec.Header()
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("%d: HTTP %d, body %q; want 200, none", tt.status, rec.Code, rec.Body)
		}
		for k, want := range map[string]string{
			"Content-Type": "application/grpc", "Grpc-Status": tt.grpc, "Grpc-Message": "50%25 off",
			"Retry-After": "7", "Content-Length": "", "Trailer": "",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%d: %s = %q, want %q", tt.status, k, got, want)
			}
		}
		if got := grpcOutcome(w, rpcGRPC, tt.status); got != tt.grpc {
			t.Errorf("%d: grpcOutcome = %q, want %q", tt.status, got, tt.grpc)
		}
	}
}

// TestGRPCOutcome checks which grpc-status the recorder reads from what
// was sent, as ReverseProxy leaves it in the header map once the relay is
// done.
func TestGRPCOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		kind   rpcKind
		header http.Header
		wrote  bool
		status int
		want   string
	}{
		{"trailer", rpcGRPC, http.Header{"Content-Type": {"application/grpc"}, "Trailer": {"Grpc-Status"}, "Grpc-Status": {"5"}}, true, 200, "5"},
		{"undeclared trailer", rpcGRPC, http.Header{"Content-Type": {"application/grpc+proto"}, http.TrailerPrefix + "Grpc-Status": {"0"}}, true, 200, "0"},
		{"trailers-only", rpcGRPC, http.Header{"Content-Type": {"application/grpc"}, "Grpc-Status": {"14"}}, true, 200, "14"},
		{"not a standard code", rpcGRPC, http.Header{"Content-Type": {"application/grpc"}, "Grpc-Status": {"99"}}, true, 200, "unknown"},
		{"stream broke before its trailer", rpcGRPC, http.Header{"Content-Type": {"application/grpc"}, "Trailer": {"Grpc-Status"}}, true, 502, "unknown"},
		{"answer not gRPC", rpcGRPC, http.Header{"Content-Type": {"application/json"}, "Grpc-Status": {"3"}}, true, 200, "unknown"},
		{"client went away", rpcGRPC, http.Header{}, false, pipeline.StatusClientClosed, "1"},
		{"client went away mid-stream", rpcGRPC, http.Header{"Content-Type": {"application/grpc"}, "Trailer": {"Grpc-Status"}}, true, pipeline.StatusClientClosed, "1"},
		{"gRPC-Web, status in the body", rpcWeb, http.Header{"Content-Type": {"application/grpc-web+proto"}}, true, 200, ""},
		{"gRPC-Web, trailers-only", rpcWeb, http.Header{"Content-Type": {"application/grpc-web"}, "Grpc-Status": {"7"}}, true, 200, "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			for k, v := range tt.header {
				rec.Header()[k] = v
			}
			w := &responseWriter{ResponseWriter: rec, wroteHeader: tt.wrote, status: tt.status}
			if got := grpcOutcome(w, tt.kind, tt.status); got != tt.want {
				t.Errorf("grpcOutcome = %q, want %q", got, tt.want)
			}
		})
	}
}
