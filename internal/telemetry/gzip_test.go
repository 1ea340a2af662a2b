package telemetry

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   bool
	}{
		{name: "none", fields: nil, want: false},
		{name: "gzip", fields: []string{"gzip"}, want: true},
		{name: "Prometheus", fields: []string{"gzip, deflate"}, want: true},
		{name: "among others", fields: []string{"deflate, GZIP;q=0.5, br"}, want: true},
		{name: "second field", fields: []string{"br", "gzip"}, want: true},
		{name: "refused", fields: []string{"gzip;q=0"}, want: false},
		{name: "refused with spaces", fields: []string{"identity, gzip ; q=0.000"}, want: false},
		{name: "identity only", fields: []string{"identity"}, want: false},
		{name: "x-gzip is not gzip", fields: []string{"x-gzip2"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptsGzip(tt.fields); got != tt.want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", tt.fields, got, tt.want)
			}
		})
	}
}

func TestGzipped(t *testing.T) {
	long := strings.Repeat("gantry_requests_total{route=\"orders\"} 1\n", gzipMinBytes/40+1)
	short := "gantry_build_info 1\n"
	tests := []struct {
		name, accept, body string
		status             int
		wantEncoding       string
	}{
		{name: "long, gzip accepted", accept: "gzip", body: long, status: 200, wantEncoding: "gzip"},
		{name: "long, an error status kept", accept: "gzip", body: long, status: 500, wantEncoding: "gzip"},
		{name: "short, sent as it is", accept: "gzip", body: short, status: 200, wantEncoding: ""},
		{name: "long, no Accept-Encoding", accept: "", body: long, status: 200, wantEncoding: ""},
		{name: "long, gzip refused", accept: "gzip;q=0, identity", body: long, status: 200, wantEncoding: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := gzipped(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(tt.body)))
				w.WriteHeader(tt.status)
				// In pieces, as the exposition is written.
				for b := tt.body; b != ""; {
					n := min(len(b), 1000)
					io.WriteString(w, b[:n])
					b = b[n:]
				}
			}))
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding = %q, want %q", got, tt.wantEncoding)
			}
			if got := res.Header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary = %q, want Accept-Encoding", got)
			}
			if got := res.Header.Get("Content-Length"); tt.wantEncoding != "" && got != "" {
				t.Errorf("Content-Length = %q on a compressed answer, want none", got)
			}
			body := io.Reader(res.Body)
			if tt.wantEncoding == "gzip" {
				zr, err := gzip.NewReader(res.Body)
				if err != nil {
					t.Fatalf("body is not gzip: %v", err)
				}
				body = zr
			}
			got, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.body {
				t.Errorf("body: %d bytes, want the handler's %d", len(got), len(tt.body))
			}
		})
	}
}

// TestMetricsHandlerGzip scrapes the registry as Prometheus does.
func TestMetricsHandlerGzip(t *testing.T) {
	m := NewMetrics()
	m.SetBuildInfo("v1.2.3")
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	body := rec.Body.String()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatalf("body is not gzip: %v", err)
		}
		b, _ := io.ReadAll(zr)
		body = string(b)
	}
	if want := `gantry_build_info{go_version="` + runtime.Version() + `",version="v1.2.3"} 1`; !strings.Contains(body, want) {
		t.Errorf("exposition lacks %s:\n%s", want, body)
	}
}
