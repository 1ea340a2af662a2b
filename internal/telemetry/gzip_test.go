package telemetry

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
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

func TestMetricsHandlerGzip(t *testing.T) {
	m := NewMetrics()
	m.SetBuildInfo("v1.2.3")
	h := m.Handler()
	tests := []struct {
		name, accept, wantEncoding string
	}{
		{name: "Prometheus asks for gzip", accept: "gzip", wantEncoding: "gzip"},
		{name: "no Accept-Encoding", accept: "", wantEncoding: ""},
		{name: "gzip refused", accept: "gzip;q=0, identity", wantEncoding: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
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
			text, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if want := `gantry_build_info{go_version="` + runtime.Version() + `",version="v1.2.3"} 1`; !strings.Contains(string(text), want) {
				t.Errorf("exposition lacks gantry_build_info:\n%s", text)
			}
		})
	}
}
