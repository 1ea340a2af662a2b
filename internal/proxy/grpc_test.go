package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// grpcTestUpstream is an h2c upstream answering like a gRPC server: the
// path says which status it ends with and how.
func grpcTestUpstream(tb testing.TB) string {
	tb.Helper()
	mux := http.NewServeMux()
	answer := func(status string, body bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/grpc")
			if !body {
				// Trailers-only: the status travels in the header.
				w.Header().Set("Grpc-Status", status)
				w.WriteHeader(http.StatusOK)
				return
			}
			w.Header().Set("Trailer", "Grpc-Status")
			w.Write([]byte{0, 0, 0, 0, 2, 'o', 'k'})
			if status != "" {
				w.Header().Set("Grpc-Status", status)
			}
		}
	}
	mux.Handle("/pkg.Orders/Get", answer("0", true))
	mux.Handle("/pkg.Orders/Missing", answer("5", true))
	mux.Handle("/pkg.Orders/Down", answer("14", false))
	mux.Handle("/pkg.Orders/Broken", answer("", true))
	mux.HandleFunc("/pkg.Orders/Odd", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc+proto")
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write([]byte{0, 0, 0, 0, 0})
		w.Header().Set("Grpc-Status", "99")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		// Not gRPC, whatever its trailer says.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write([]byte(`{}`))
		w.Header().Set("Grpc-Status", "3")
	})
	mux.HandleFunc("/web", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc-web+proto")
		w.Write([]byte{0, 0, 0, 0, 0})
	})
	up := httptest.NewUnstartedServer(mux)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	up.Config.Protocols = &p
	up.Start()
	tb.Cleanup(up.Close)
	return "h2c://" + strings.TrimPrefix(up.URL, "http://")
}

func TestGRPCStatusMetric(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics()
	h := newProxy(t, nil, &config.Route{Name: "orders"}, Options{Metrics: m}, grpcTestUpstream(t))
	calls := []struct {
		path, trailer string
	}{
		{"/pkg.Orders/Get", "0"},
		{"/pkg.Orders/Get", "0"},
		{"/pkg.Orders/Missing", "5"},
		{"/pkg.Orders/Down", ""},
		{"/pkg.Orders/Broken", ""},
		{"/pkg.Orders/Odd", "99"},
		{"/json", "3"},
		{"/web", ""},
	}
	for _, c := range calls {
		r := httptest.NewRequest("POST", c.path, strings.NewReader("\x00\x00\x00\x00\x00"))
		r.Header.Set("Content-Type", "application/grpc")
		r.Header.Set("Te", "trailers")
		rec, err := call(h, r, &pipeline.Exchange{})
		if err != nil || rec.Code != http.StatusOK {
			t.Fatalf("POST %s = %d, %v", c.path, rec.Code, err)
		}
		if got := rec.Result().Trailer.Get("Grpc-Status"); got != c.trailer {
			t.Errorf("POST %s: client's Grpc-Status trailer = %q, want %q", c.path, got, c.trailer)
		}
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	got := map[string]string{}
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "gantry_grpc_responses_total{") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			got[k] = v
		}
	}
	want := map[string]string{
		`gantry_grpc_responses_total{grpc_status="0",route="orders"}`:  "2",
		`gantry_grpc_responses_total{grpc_status="5",route="orders"}`:  "1",
		`gantry_grpc_responses_total{grpc_status="14",route="orders"}`: "1",
		// A missing and a non-standard status.
		`gantry_grpc_responses_total{grpc_status="unknown",route="orders"}`: "2",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %s", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want exactly %v", got, want)
	}
}

func TestIsGRPC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ct   string
		want bool
	}{
		{"application/grpc", true},
		{"application/grpc+proto", true},
		{"application/grpc+json", true},
		{"application/grpc; charset=utf-8", true},
		{"application/grpc-web", false},
		{"application/grpc-web+proto", false},
		{"application/grpcx", false},
		{"application/json", false},
		{"", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.ct != "" {
			h.Set("Content-Type", tt.ct)
		}
		if got := isGRPC(h); got != tt.want {
			t.Errorf("isGRPC(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}
