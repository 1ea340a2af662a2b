package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// gRPC over cleartext HTTP/2 with prior knowledge: what gRPC clients speak
// without TLS. The messages are gRPC's length-prefixed frames; their
// payloads are opaque bytes, as the gateway sees them.

// grpcFrame returns msg as one gRPC message: a zero compression flag and a
// 4-byte big-endian length before the payload.
func grpcFrame(msg string) []byte {
	b := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:5], uint32(len(msg)))
	copy(b[5:], msg)
	return b
}

// readGRPCFrame reads one gRPC message from r.
func readGRPCFrame(r io.Reader) (string, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	if hdr[0] != 0 {
		return "", fmt.Errorf("compressed flag %d", hdr[0])
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > 1<<20 {
		return "", fmt.Errorf("message of %d bytes", n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return "", fmt.Errorf("message body: %w", err)
	}
	return string(msg), nil
}

// grpcUpstream is an h2c gRPC-shaped upstream: Unary echoes its request
// message, Stream answers streamMessages messages, each only once next lets
// it go.
type grpcUpstream struct {
	srv  *httptest.Server
	next chan struct{}
	// h1 counts requests that did not arrive over HTTP/2.
	h1 atomic.Int64
}

const streamMessages = 5

func newGRPCUpstream(t *testing.T) *grpcUpstream {
	t.Helper()
	u := &grpcUpstream{next: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pkg.Service/Unary", u.unary)
	mux.HandleFunc("POST /pkg.Service/Stream", u.stream)
	mux.HandleFunc("POST /pkg.Service/Missing", u.missing)
	mux.HandleFunc("POST /pkg.Service/Unavailable", u.unavailable)
	u.srv = httptest.NewUnstartedServer(mux)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	u.srv.Config.Protocols = &p
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

// begin checks the request is a gRPC call and reads its one message.
func (u *grpcUpstream) begin(w http.ResponseWriter, r *http.Request) (string, bool) {
	if r.ProtoMajor != 2 {
		u.h1.Add(1)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/grpc" {
		http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
		return "", false
	}
	msg, err := readGRPCFrame(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", false
	}
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
	return msg, true
}

func (u *grpcUpstream) unary(w http.ResponseWriter, r *http.Request) {
	msg, ok := u.begin(w, r)
	if !ok {
		return
	}
	w.Write(grpcFrame("echo:" + msg))
	w.Header().Set("Grpc-Status", "0")
	w.Header().Set("Grpc-Message", "fine")
}

// missing answers NOT_FOUND (5) in the trailer, after a header and no
// message, as gRPC servers do for a failed call that started streaming.
func (u *grpcUpstream) missing(w http.ResponseWriter, r *http.Request) {
	if _, ok := u.begin(w, r); !ok {
		return
	}
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	w.Header().Set("Grpc-Status", "5")
	w.Header().Set("Grpc-Message", "no such order")
}

// unavailable answers UNAVAILABLE (14) trailers-only: the status in the
// header, no body.
func (u *grpcUpstream) unavailable(w http.ResponseWriter, r *http.Request) {
	if _, ok := u.begin(w, r); !ok {
		return
	}
	w.Header().Del("Trailer")
	w.Header().Set("Grpc-Status", "14")
	w.WriteHeader(http.StatusOK)
}

func (u *grpcUpstream) stream(w http.ResponseWriter, r *http.Request) {
	msg, ok := u.begin(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	for i := range streamMessages {
		if i > 0 {
			select {
			case <-u.next:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
				return
			}
		}
		w.Write(grpcFrame(fmt.Sprintf("%s#%d", msg, i)))
		if err := rc.Flush(); err != nil {
			return
		}
	}
	// Declared in begin; the TrailerPrefix form also works for one that was not.
	w.Header().Set("Grpc-Status", "0")
	w.Header().Set(http.TrailerPrefix+"X-Stream-End", "yes")
}

// h2cClient speaks only HTTP/2 with prior knowledge over cleartext.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func grpcRequest(t *testing.T, url, msg string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(grpcFrame(msg)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	return req
}

func grpcGateway(t *testing.T, u *grpcUpstream) *testkit.Gantry {
	t.Helper()
	addr := strings.TrimPrefix(u.srv.URL, "http://")
	return testkit.Start(t, base(fmt.Sprintf(`upstreams:
  grpc: {targets: [{url: "h2c://%s"}]}
routes:
  - name: grpc
    match: {path_prefix: "/pkg.Service/"}
    upstream: grpc
`, addr)))
}

func TestGRPCUnary(t *testing.T) {
	u := newGRPCUpstream(t)
	g := grpcGateway(t, u)
	c := h2cClient(t)
	// The paths that are not canonical would be redirected by the
	// upstream's mux: the gateway must canonicalize HTTP/2 paths too.
	tests := []struct {
		name, path, msg string
	}{
		{"short", "/pkg.Service/Unary", "hello"},
		{"empty", "/pkg.Service/Unary", ""},
		{"large", "/pkg.Service/Unary", strings.Repeat("x", 100_000)},
		{"merged slashes", "/pkg.Service//Unary", "a"},
		{"dot segment", "/pkg.Service/x/../Unary", "b"},
		{"encoded", "/pkg.Service/%55nary", "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Do(grpcRequest(t, g.URL+tt.path, tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("response over %s, want HTTP/2", resp.Proto)
			}
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %q", resp.StatusCode, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/grpc" {
				t.Fatalf("Content-Type = %q", ct)
			}
			got, err := readGRPCFrame(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if want := "echo:" + tt.msg; got != want {
				t.Fatalf("message = %.40q, want %.40q", got, want)
			}
			if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
				t.Fatalf("after the message: %q, %v", rest, err)
			}
			if s := resp.Trailer.Get("Grpc-Status"); s != "0" {
				t.Fatalf("Grpc-Status trailer = %q (trailers %v)", s, resp.Trailer)
			}
			if m := resp.Trailer.Get("Grpc-Message"); m != "fine" {
				t.Fatalf("Grpc-Message trailer = %q", m)
			}
		})
	}
	if n := u.h1.Load(); n != 0 {
		t.Fatalf("%d requests reached the upstream over HTTP/1", n)
	}
}

func TestGRPCServerStreaming(t *testing.T) {
	u := newGRPCUpstream(t)
	g := grpcGateway(t, u)
	resp, err := h2cClient(t).Do(grpcRequest(t, g.URL+"/pkg.Service/Stream", "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s", resp.StatusCode, resp.Proto)
	}
	for i := range streamMessages {
		if i > 0 {
			// The upstream sends message i only now, so message i-1 came
			// through before the upstream's stream ended.
			select {
			case u.next <- struct{}{}:
			case <-time.After(10 * time.Second):
				t.Fatalf("upstream never asked for message %d", i)
			}
		}
		got := make(chan string, 1)
		errc := make(chan error, 1)
		go func() {
			m, err := readGRPCFrame(resp.Body)
			if err != nil {
				errc <- err
				return
			}
			got <- m
		}()
		select {
		case m := <-got:
			if want := fmt.Sprintf("s#%d", i); m != want {
				t.Fatalf("message %d = %q, want %q", i, m, want)
			}
		case err := <-errc:
			t.Fatalf("message %d: %v", i, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d was held back by the gateway", i)
		}
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the stream: %q, %v", rest, err)
	}
	for k, want := range map[string]string{"Grpc-Status": "0", "X-Stream-End": "yes"} {
		if got := resp.Trailer.Get(k); got != want {
			t.Fatalf("trailer %s = %q, want %q (trailers %v)", k, got, want, resp.Trailer)
		}
	}
	if n := u.h1.Load(); n != 0 {
		t.Fatalf("%d requests reached the upstream over HTTP/1", n)
	}
}

// TestGRPCStatusMetric makes calls that end with different gRPC statuses,
// in the trailer or trailers-only: each shows in
// gantry_grpc_responses_total under its route and status.
func TestGRPCStatusMetric(t *testing.T) {
	u := newGRPCUpstream(t)
	g := grpcGateway(t, u)
	c := h2cClient(t)
	calls := []struct {
		method, status string
		trailer        bool
	}{
		{"Unary", "0", true},
		{"Missing", "5", true},
		{"Missing", "5", true},
		{"Unavailable", "14", false},
	}
	for _, call := range calls {
		resp, err := c.Do(grpcRequest(t, g.URL+"/pkg.Service/"+call.method, "x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := resp.Header.Get("Grpc-Status")
		if call.trailer {
			got = resp.Trailer.Get("Grpc-Status")
		}
		if resp.StatusCode != http.StatusOK || got != call.status {
			t.Fatalf("%s: HTTP %d, grpc-status %q; want 200, %s", call.method, resp.StatusCode, got, call.status)
		}
	}
	for status, want := range map[string]float64{"0": 1, "5": 2, "14": 1} {
		name := fmt.Sprintf(`gantry_grpc_responses_total{grpc_status=%q,route="grpc"}`, status)
		if got := metric(t, g, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
