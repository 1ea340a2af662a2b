package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

func TestTransportSettings(t *testing.T) {
	t.Parallel()
	trs := NewTransports()
	top := trs.Get(0, 0)
	tr := top.Std
	if tr.Proxy != nil {
		t.Errorf("Proxy is set; HTTP_PROXY must not reroute upstream traffic")
	}
	if tr.ResponseHeaderTimeout != DefaultResponseTimeout || tr.TLSHandshakeTimeout != DefaultConnectTimeout {
		t.Errorf("timeouts = %v/%v, want defaults %v/%v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout, DefaultResponseTimeout, DefaultConnectTimeout)
	}
	if !tr.DisableCompression || !tr.ForceAttemptHTTP2 || tr.MaxIdleConnsPerHost != 256 || tr.MaxIdleConns != 1024 || tr.IdleConnTimeout != 90*time.Second || tr.ExpectContinueTimeout != time.Second {
		t.Errorf("transport settings differ from the documented ones: %+v", tr)
	}
	if top.fast == nil || top.fast.ResponseHeaderTimeout != DefaultResponseTimeout || top.fast.DialTimeout != DefaultConnectTimeout {
		t.Errorf("the HTTP/1.1 client is missing or has other timeouts: %+v", top.fast)
	}
	if trs.Get(2*time.Second, 30*time.Second) != top {
		t.Errorf("Get() with explicit defaults returned a different transport than Get(0, 0)")
	}
	if trs.Get(time.Second, 30*time.Second) == top {
		t.Errorf("Get() with another connect timeout shared the transport")
	}
	h2c := trs.GetH2C(0, 0).Std
	if h2c == tr || trs.GetH2C(0, 0).fast != nil || h2c.Protocols == nil || !h2c.Protocols.UnencryptedHTTP2() || h2c.Protocols.HTTP1() {
		t.Errorf("GetH2C() = %+v, want a distinct HTTP/2-only cleartext transport", h2c.Protocols)
	}
	if trs.Len() != 3 {
		t.Errorf("Len() = %d, want 3", trs.Len())
	}
	trs.CloseIdle()
}

// Reloads build new handlers; they must share the transports, so warm
// connections survive and nothing accumulates.
func TestReloadsReuseTransports(t *testing.T) {
	up := echoUpstream(t)
	trs := NewTransports()
	cfg := &config.Upstream{Timeouts: config.Timeouts{Connect: config.Duration(time.Second), Response: config.Duration(5 * time.Second)}, Targets: []*config.Target{{URL: up.URL}}}
	serve := func() {
		h, err := New(mustPool(t, cfg), cfg, nil, Options{Transports: trs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call(h, httptest.NewRequest("GET", "/", nil), &pipeline.Exchange{}); err != nil {
			t.Fatal(err)
		}
	}
	serve()
	runtime.GC()
	before := runtime.NumGoroutine()
	for range 1000 {
		serve()
	}
	if trs.Len() != 1 {
		t.Errorf("Transports.Len() after 1000 reloads = %d, want 1", trs.Len())
	}
	// Allow a little slack for connection goroutines that are still
	// winding down; a leak per reload would show as hundreds.
	if after := runtime.NumGoroutine(); after > before+10 {
		t.Errorf("goroutines: %d before, %d after 1000 reloads", before, after)
	}
}

// Upstream connections are kept alive across requests, bodies or not.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, strings.Repeat("ok", 10000))
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	h := newProxy(t, nil, nil, Options{}, up.URL)
	for i := range 50 {
		r := httptest.NewRequest("GET", "/", nil)
		if i%2 == 1 {
			r = httptest.NewRequest("POST", "/", strings.NewReader("payload"))
		}
		if _, err := call(h, r, &pipeline.Exchange{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("50 sequential requests opened %d upstream connections, want 1", n)
	}
}

// TestSendAndStartChooseTheClient: Send and Start hand what the gateway's
// own client takes to it, and what it refuses (an Upgrade field, a body of
// unknown length) to net/http, the body untouched by the refusal. The
// upstream tells them apart by the User-Agent net/http adds.
func TestSendAndStartChooseTheClient(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Header.Get("User-Agent")+"|"+string(b))
	}))
	t.Cleanup(up.Close)
	tr := NewTransports().Get(0, 0)
	t.Cleanup(tr.CloseIdleConnections)
	read := func(res *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	// newReq makes the case's request afresh: a body is read by its send.
	newReq := func(h http.Header, body string) *http.Request {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, err := http.NewRequest(http.MethodPost, up.URL+"/x", rd)
		if err != nil {
			t.Fatal(err)
		}
		r.Header = h
		if body != "" {
			r.ContentLength = -1 // unknown: the gateway's client refuses it
		}
		return r
	}
	const std = "Go-http-client/1.1"
	for _, tc := range []struct {
		name string
		h    http.Header
		body string
		want string
	}{
		{"taken", http.Header{}, "", "|"},
		{"upgrade", http.Header{"Upgrade": {"x-test"}, "Connection": {"Upgrade"}}, "", std + "|"},
		{"unknown length", http.Header{}, "streamed", std + "|streamed"},
	} {
		if got := read(tr.Send(t.Context(), newReq(tc.h, tc.body), nil)); got != tc.want {
			t.Errorf("%s: Send answer %q, want %q", tc.name, got, tc.want)
		}
		req := newReq(tc.h, tc.body)
		var p h1.Pending
		ok, err := tr.Start(t.Context(), req, nil, &p)
		if err != nil {
			t.Fatalf("%s: Start error %v", tc.name, err)
		}
		if taken := tc.want == "|"; ok != taken {
			t.Fatalf("%s: Start ok = %v, want %v", tc.name, ok, taken)
		}
		if ok {
			if got := read(p.Finish(nil)); got != tc.want {
				t.Errorf("%s: Finish answer %q, want %q", tc.name, got, tc.want)
			}
			continue
		}
		// Refused with nothing done: the request goes on as it is.
		if got := read(tr.Send(t.Context(), req, nil)); got != tc.want {
			t.Errorf("%s: Send after Start's refusal answered %q, want %q", tc.name, got, tc.want)
		}
	}
}
