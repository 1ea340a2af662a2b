package proxy

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestHTTPSUpstreamProtocol: an https:// target left to ALPN speaks h2 with
// a server that offers it, through ReverseProxy, as before; one of an
// upstream declared http1 speaks HTTP/1.1, on the direct path for what it
// takes and through ReverseProxy for an upgrade.
func TestHTTPSUpstreamProtocol(t *testing.T) {
	t.Parallel()
	srv := newUpstreamTLS(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
	})
	trs := tlsTransports(t)
	tests := []struct {
		protocol string
		header   http.Header
		want     string
		direct   bool
	}{
		{protocol: "", want: "HTTP/2.0"},
		{protocol: config.ProtocolAuto, want: "HTTP/2.0"},
		{protocol: config.ProtocolHTTP1, want: "HTTP/1.1", direct: true},
		// Refused by the HTTP/1.1 client: net/http's Transport, which may
		// not negotiate h2 for this upstream either.
		{protocol: config.ProtocolHTTP1, header: http.Header{"Expect": {"100-continue"}}, want: "HTTP/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.protocol+tt.header.Get("Expect"), func(t *testing.T) {
			h := newProxy(t, &config.Upstream{Protocol: tt.protocol}, nil, Options{Transports: trs}, srv.URL)
			hd := h.(*handler)
			r := httptest.NewRequest("GET", "/x", nil)
			for k, v := range tt.header {
				r.Header[k] = v
			}
			if got := hd.fast != nil && direct(r) && hd.directTarget(hd.pool.Targets()[0]); got != tt.direct {
				t.Errorf("direct path = %v, want %v", got, tt.direct)
			}
			x := &pipeline.Exchange{}
			rec, err := call(h, r, x)
			if err != nil || rec.Code != 200 {
				t.Fatalf("answer %d, error %v", rec.Code, err)
			}
			if got := rec.Header().Get("X-Proto"); got != tt.want {
				t.Errorf("upstream saw %s, want %s", got, tt.want)
			}
		})
	}
}

// TestHTTPSUpstreamFailureParity: a certificate that does not verify, and a
// handshake that never ends, answer the same whichever client connected.
func TestHTTPSUpstreamFailureParity(t *testing.T) {
	t.Parallel()
	untrusted := newUpstreamTLS(t, func(w http.ResponseWriter, r *http.Request) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	tests := []struct {
		name, url   string
		trs         *Transports
		wantMessage string
	}{
		{name: "unknown authority", url: untrusted.URL, trs: NewTransports(), wantMessage: "TLS handshake with upstream failed"},
		{name: "handshake timeout", url: "https://" + ln.Addr().String(), trs: NewTransports(), wantMessage: "TLS handshake with upstream failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*pipeline.HTTPError
			for _, protocol := range []string{config.ProtocolAuto, config.ProtocolHTTP1} {
				up := &config.Upstream{Protocol: protocol, Timeouts: config.Timeouts{Connect: config.Duration(200 * time.Millisecond)}}
				h := newProxy(t, up, nil, Options{Transports: tt.trs}, tt.url)
				for _, method := range []string{"GET", "POST"} {
					var body *strings.Reader
					if method == "POST" {
						body = strings.NewReader(`{"a":1}`)
					}
					r := httptest.NewRequest(method, "/x", nil)
					if body != nil {
						r = httptest.NewRequest(method, "/x", body)
					}
					_, err := call(h, r, &pipeline.Exchange{})
					he, ok := errors.AsType[*pipeline.HTTPError](err)
					if !ok {
						t.Fatalf("%s %s: error %v, want an HTTPError", protocol, method, err)
					}
					got = append(got, he)
				}
			}
			for i, he := range got {
				if he.Status != http.StatusBadGateway || he.Code != got[0].Code || he.Message != tt.wantMessage {
					t.Errorf("answer %d: %d %s %q (%v), want 502 %q like the first (%v)", i, he.Status, he.Code, he.Message, he.Err, tt.wantMessage, got[0].Err)
				}
			}
		})
	}
}
