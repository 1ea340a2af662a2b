package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestForwardedPort checks that X-Forwarded-Port is the port the client
// connected to, on both ways to the upstream, whatever the client sent.
func TestForwardedPort(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	trusted, err := forward.ParseTrusted([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	h := newProxy(t, nil, nil, Options{TrustedProxies: trusted}, up.URL)
	tests := []struct {
		name     string
		remote   string
		streamed bool // a body of unknown length: ReverseProxy's way
		local    net.Addr
		want     string
	}{
		{name: "direct, untrusted", remote: "203.0.113.9:5", local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, want: "8443"},
		{name: "reverse proxy, untrusted", remote: "203.0.113.9:5", streamed: true, local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, want: "8443"},
		{name: "direct, trusted peer's value replaced", remote: "10.0.0.5:5", local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}, want: "9000"},
		{name: "reverse proxy, trusted peer's value replaced", remote: "10.0.0.5:5", streamed: true, local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}, want: "9000"},
		{name: "no listener address", remote: "203.0.113.9:5", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tt.streamed {
				body = strings.NewReader("payload")
			}
			r := httptest.NewRequest("POST", "/p", body)
			if tt.streamed {
				r.ContentLength = -1
			}
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Forwarded-Port", "1")
			if tt.local != nil {
				r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tt.local))
			}
			rec, err := call(h, r, &pipeline.Exchange{ID: "req-port"})
			if err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			s := decodeSeen(t, rec.Body.String())
			if got := strings.Join(s.Header["X-Forwarded-Port"], "|"); got != tt.want {
				t.Errorf("upstream X-Forwarded-Port = %q, want %q", got, tt.want)
			}
		})
	}
}
