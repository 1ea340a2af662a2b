package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// rawCodec passes gRPC messages as opaque bytes, so grpc-go can call the
// test upstreams without generated code.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

// grpcErrorsUpstream is an h2c gRPC-shaped upstream: a method ending in
// /Unary echoes, /Missing ends NOT_FOUND in the trailer, /Slow answers
// after 3 seconds.
func grpcErrorsUpstream(t *testing.T) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg, err := readGRPCFrame(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		switch {
		case strings.HasSuffix(r.URL.Path, "/Missing"):
			w.WriteHeader(http.StatusOK)
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "no such order")
			return
		case strings.HasSuffix(r.URL.Path, "/Slow"):
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		w.Write(grpcFrame("echo:" + msg))
		w.Header().Set("Grpc-Status", "0")
	})
	srv := httptest.NewUnstartedServer(h)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestGRPCGatewayErrors calls the gateway with grpc-go over h2c: each error
// the gateway makes itself reaches the client as a gRPC status with the
// gateway's message, and the access log records the grpc-status of every
// call, the upstream's own included.
func TestGRPCGatewayErrors(t *testing.T) {
	up := grpcErrorsUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  api_key: {header: X-API-Key}
upstreams:
  app: {targets: [{url: "h2c://%[1]s"}]}
  slow: {targets: [{url: "h2c://%[1]s"}], timeouts: {response: 300ms}}
  down: {targets: [{url: "h2c://%[2]s"}]}
routes:
  - name: open
    match: {path_prefix: "/pkg.Open/"}
    upstream: app
  - name: keyed
    match: {path_prefix: "/pkg.Keyed/"}
    upstream: app
    auth: [api_key]
  - name: limited
    match: {path_prefix: "/pkg.Limited/"}
    upstream: app
    rate_limit: {requests: 1, per: 1m}
  - name: down
    match: {path_prefix: "/pkg.Down/"}
    upstream: down
  - name: slow
    match: {path_prefix: "/pkg.Slow/"}
    upstream: slow
`, up, down)))
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(g.URL, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	call := func(id, method string) (*metadata.MD, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", id)
		in, out := []byte("hi"), []byte(nil)
		// grpc-go hands the metadata of a trailers-only answer over as
		// trailer metadata.
		var hdr, trl metadata.MD
		err := conn.Invoke(ctx, method, &in, &out, grpc.Header(&hdr), grpc.Trailer(&trl))
		if err == nil && string(out) != "echo:hi" {
			t.Errorf("%s answered %q", method, out)
		}
		md := metadata.Join(hdr, trl)
		return &md, err
	}

	type grpcCase struct {
		name, id, method string
		code             codes.Code
		msg              string
		// grpcStatus is the access log's grpc_status, status its status.
		grpcStatus, status string
	}
	tests := []grpcCase{
		{"ok", "grpc-ok", "/pkg.Open/Unary", codes.OK, "", "0", "200"},
		{"upstream's status", "grpc-missing", "/pkg.Open/Missing", codes.NotFound, "no such order", "5", "200"},
		{"no credentials", "grpc-unauth", "/pkg.Keyed/Unary", codes.Unauthenticated, "credentials required", "16", "401"},
		{"first call within the limit", "grpc-limit-1", "/pkg.Limited/Unary", codes.OK, "", "0", "200"},
		{"rate limited", "grpc-limit-2", "/pkg.Limited/Unary", codes.ResourceExhausted, "rate limit exceeded: 1 requests per 1m", "8", "429"},
		{"upstream down", "grpc-down", "/pkg.Down/Unary", codes.Unavailable, "upstream refused the connection", "14", "502"},
		{"upstream too slow", "grpc-slow", "/pkg.Slow/Slow", codes.DeadlineExceeded, "upstream did not answer in time", "4", "504"},
		{"no route", "grpc-noroute", "/other.Service/Call", codes.Unimplemented, "no route matches the request", "12", "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, err := call(tt.id, tt.method)
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("%s: code %v (%q), want %v", tt.method, st.Code(), st.Message(), tt.code)
			}
			if tt.code == codes.OK {
				return
			}
			// The gateway's message, as its JSON errors carry it, not
			// one grpc-go made up from an HTTP status.
			if st.Message() != tt.msg {
				t.Errorf("%s: message %q, want %q", tt.method, st.Message(), tt.msg)
			}
			if tt.status == "200" {
				return
			}
			if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != tt.id {
				t.Errorf("%s: x-request-id metadata %v", tt.method, got)
			}
		})
	}
	// The rate limit's headers stay headers: the client reads them as
	// metadata.
	hdr, err := call("grpc-limit-3", "/pkg.Limited/Unary")
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third call: %v", err)
	}
	if hdr.Get("retry-after") == nil || hdr.Get("ratelimit-limit") == nil {
		t.Errorf("rate limited call's metadata lacks retry-after or ratelimit-limit: %v", *hdr)
	}

	// A client whose deadline passes first cancels the call: recorded as
	// 499 and CANCELLED.
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "grpc-gone"), 300*time.Millisecond)
	in, out := []byte("hi"), []byte(nil)
	err = conn.Invoke(ctx, "/pkg.Open/Slow", &in, &out)
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call past the client's deadline: %v", err)
	}
	tests = append(tests, grpcCase{name: "client gone", id: "grpc-gone", grpcStatus: "1", status: "499"})

	for _, tt := range tests {
		line := waitLogLine(t, g, tt.id)
		for _, want := range []string{`"grpc_status":"` + tt.grpcStatus + `"`, `"status":` + tt.status + `,`} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: access log line lacks %s:\n%s", tt.name, want, line)
			}
		}
	}
	for labels, want := range map[string]float64{
		`grpc_status="0",route="open"`:    1,
		`grpc_status="5",route="open"`:    1,
		`grpc_status="16",route="keyed"`:  1,
		`grpc_status="8",route="limited"`: 2,
		`grpc_status="14",route="down"`:   1,
		`grpc_status="4",route="slow"`:    1,
		`grpc_status="12",route=""`:       1,
		`grpc_status="0",route="limited"`: 1,
	} {
		name := "gantry_grpc_responses_total{" + labels + "}"
		if got := metric(t, g, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestGRPCErrorWire checks the gateway's gRPC error on the wire: a
// trailers-only HTTP/2 answer (HTTP 200, the status in the header block, no
// body), and gRPC-Web calls answered the same
// way with their own content type.
func TestGRPCErrorWire(t *testing.T) {
	g := testkit.Start(t, base(`auth:
  api_key: {header: X-API-Key}
upstreams:
  app: {targets: [{url: "h2c://127.0.0.1:9"}]}
routes:
  - name: keyed
    match: {path_prefix: "/pkg.Keyed/"}
    upstream: app
    auth: [api_key]
`))
	c := h2cClient(t)
	tests := []struct {
		name, ct, wantCT string
	}{
		{"grpc", "application/grpc", "application/grpc"},
		{"grpc+proto", "application/grpc+proto", "application/grpc"},
		{"grpc-web", "application/grpc-web+proto", "application/grpc-web"},
		{"grpc-web-text", "application/grpc-web-text", "application/grpc-web-text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := grpcRequest(t, g.URL+"/pkg.Keyed/Unary", "x")
			req.Header.Set("Content-Type", tt.ct)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(body) != 0 {
				t.Fatalf("HTTP %d, body %q; want 200 and no body", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantCT {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantCT)
			}
			if got := resp.Header.Get("Grpc-Status"); got != "16" {
				t.Errorf("Grpc-Status header = %q, want 16", got)
			}
			if got := resp.Header.Get("Grpc-Message"); got != "credentials required" {
				t.Errorf("Grpc-Message header = %q", got)
			}
			if len(resp.Trailer) != 0 {
				t.Errorf("trailers %v in a trailers-only answer", resp.Trailer)
			}
			if resp.Header.Get("Www-Authenticate") == "" {
				t.Errorf("WWW-Authenticate dropped: %v", resp.Header)
			}
		})
	}
	// A plain request on the same route still gets the contract's JSON.
	r := get(t, g.URL+"/pkg.Keyed/Unary")
	if r.Status != 401 || r.gwError(t).Error != "unauthorized" {
		t.Fatalf("plain request: %d %s", r.Status, r.Body)
	}
}

// waitLogLine returns the access log line of the request id, waiting for
// the log to be flushed.
func waitLogLine(t *testing.T, g *testkit.Gantry, id string) string {
	t.Helper()
	needle := `"request_id":"` + id + `"`
	deadline := time.Now().Add(5 * time.Second)
	for {
		for line := range strings.Lines(g.Stdout()) {
			if strings.Contains(line, needle) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGRPCWebStatusOverHTTP1 calls the gateway with gRPC-Web over HTTP/1.1,
// to an HTTP/1.1 upstream that answers trailers-only: its grpc-status in
// the header, no body. The answer reaches the client with its status, and
// the access log records the upstream's grpc-status, read from the header
// the gateway relayed (the relay keeps that header as a map for gRPC
// calls, on either engine).
func TestGRPCWebStatusOverHTTP1(t *testing.T) {
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc-web+proto")
		w.Header().Set("Grpc-Status", "5")
		w.Header().Set("Grpc-Message", "no such order")
		w.WriteHeader(http.StatusOK)
	}))
	g := testkit.Start(t, oneRoute(t, up.URL, ""))
	req, err := http.NewRequest(http.MethodPost, g.URL+"/pkg.Open/Missing", strings.NewReader("\x00\x00\x00\x00\x02hi"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	req.Header.Set("X-Request-ID", "grpc-web-missing")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.ProtoMajor != 1 || res.StatusCode != http.StatusOK || res.Header.Get("Grpc-Status") != "5" {
		t.Fatalf("HTTP/%d.%d %d, Grpc-Status %q; want HTTP/1.1 200 and 5", res.ProtoMajor, res.ProtoMinor, res.StatusCode, res.Header.Get("Grpc-Status"))
	}
	if line := waitLogLine(t, g, "grpc-web-missing"); !strings.Contains(line, `"grpc_status":"5"`) {
		t.Errorf("access log line lacks the upstream's grpc_status 5:\n%s", line)
	}
}
