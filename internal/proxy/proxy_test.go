package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/google/go-cmp/cmp"
)

func TestForward(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	host := strings.TrimPrefix(up.URL, "http://")
	tests := []struct {
		name     string
		method   string
		target   string // request target sent by the client
		body     string
		fwdPath  string // Exchange.Path; "" = request path
		base     string // target base path
		wantURI  string
		wantBody string
	}{
		{name: "get with query", method: "GET", target: "/users/42?expand=orders&limit=10", wantURI: "/users/42?expand=orders&limit=10"},
		{name: "query kept raw", method: "GET", target: "/search?q=a;b&x=%zz&y=1+2", wantURI: "/search?q=a;b&x=%zz&y=1+2"},
		{name: "empty query kept", method: "GET", target: "/users?", wantURI: "/users?"},
		{name: "post body", method: "POST", target: "/orders", body: `{"item":"book","qty":2}`, wantURI: "/orders", wantBody: `{"item":"book","qty":2}`},
		{name: "put body", method: "PUT", target: "/users/7", body: "name=ada", wantURI: "/users/7", wantBody: "name=ada"},
		{name: "delete", method: "DELETE", target: "/users/7", wantURI: "/users/7"},
		{name: "forward path replaces request path", method: "GET", target: "/v2/users/7?a=1", fwdPath: "/accounts/7", wantURI: "/accounts/7?a=1"},
		{name: "forward path escaped", method: "GET", target: "/files/x", fwdPath: "/files/annual report.pdf", wantURI: "/files/annual%20report.pdf"},
		{name: "base path join", method: "GET", target: "/users/1", base: "/base", wantURI: "/base/users/1"},
		{name: "base path trailing slash", method: "GET", target: "/users/1?x=y", base: "/api/v2/", wantURI: "/api/v2/users/1?x=y"},
		{name: "base path root request", method: "GET", target: "/", base: "/base", wantURI: "/base/"},
		{name: "escaped base path", method: "GET", target: "/a", base: "/my%20svc", wantURI: "/my%20svc/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newProxy(t, nil, nil, Options{}, up.URL+tt.base)
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			r.Host = "api.example.com"
			rec, err := call(h, r, &pipeline.Exchange{ID: "req-1", Path: tt.fwdPath})
			if err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			s := decodeSeen(t, rec.Body.String())
			if s.Method != tt.method || s.RequestURI != tt.wantURI || s.Body != tt.wantBody {
				t.Errorf("upstream saw %s %s body %q, want %s %s body %q", s.Method, s.RequestURI, s.Body, tt.method, tt.wantURI, tt.wantBody)
			}
			if s.Host != host {
				t.Errorf("upstream Host = %q, want the target's %q", s.Host, host)
			}
		})
	}
}

func TestForwardCustomEscape(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	// A server that keeps an encoded slash passes its own escaping.
	esc := func(p string) string { return strings.ReplaceAll(p, "a/b", "a%2Fb") }
	h := newProxy(t, nil, nil, Options{EscapePath: esc}, up.URL)
	rec, err := call(h, httptest.NewRequest("GET", "/files/a%2Fb", nil), &pipeline.Exchange{Path: "/files/a/b"})
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	if got := decodeSeen(t, rec.Body.String()).RequestURI; got != "/files/a%2Fb" {
		t.Errorf("upstream RequestURI = %q, want /files/a%%2Fb", got)
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	trusted, err := forward.ParseTrusted([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	h := newProxy(t, nil, nil, Options{TrustedProxies: trusted}, up.URL)
	tests := []struct {
		name   string
		target string
		host   string
		remote string
		header http.Header
		tls    bool
		want   map[string]string // "" = header absent
	}{
		{
			name: "untrusted peer: client XFF replaced", target: "/p", host: "api.example.com", remote: "203.0.113.9:51000",
			header: http.Header{"X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}, "Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}},
			want:   map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "http", "Forwarded": "", "X-Real-Ip": "203.0.113.9", "X-Request-Id": "req-7"},
		},
		{
			name: "trusted peer: XFF kept and peer appended", target: "/p", host: "api.example.com:8443", remote: "10.1.2.3:40000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7, 10.9.9.9"}}, tls: true,
			want: map[string]string{"X-Forwarded-For": "198.51.100.7, 10.9.9.9, 10.1.2.3", "X-Forwarded-Host": "api.example.com:8443", "X-Forwarded-Proto": "https", "X-Real-Ip": "198.51.100.7"},
		},
		{
			name: "trusted peer: several XFF lines folded", target: "/p", host: "api.example.com", remote: "10.1.2.3:40000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7", "10.9.9.9"}},
			want:   map[string]string{"X-Forwarded-For": "198.51.100.7, 10.9.9.9, 10.1.2.3"},
		},
		{
			name: "trusted peer without XFF", target: "/p", host: "api.example.com", remote: "10.1.2.3:40000",
			want: map[string]string{"X-Forwarded-For": "10.1.2.3", "X-Real-Ip": "10.1.2.3"},
		},
		{
			name: "trusted ipv6 peer", target: "/p", host: "api.example.com", remote: "[::1]:40000",
			header: http.Header{"X-Forwarded-For": {"2001:db8::5"}},
			want:   map[string]string{"X-Forwarded-For": "2001:db8::5, ::1"},
		},
		{
			name: "ipv4-mapped peer", target: "/p", host: "api.example.com", remote: "[::ffff:203.0.113.9]:5",
			want: map[string]string{"X-Forwarded-For": "203.0.113.9"},
		},
		{
			name: "absolute-form target: X-Forwarded-Host is its authority", target: "http://shop.example.com/p", host: "", remote: "203.0.113.9:1",
			want: map[string]string{"X-Forwarded-Host": "shop.example.com"},
		},
		{
			name: "proxy credentials are not forwarded", target: "/p", host: "api.example.com", remote: "203.0.113.9:1",
			header: http.Header{"Proxy-Authorization": {"Basic c2VjcmV0"}, "Authorization": {"Bearer abc"}},
			want:   map[string]string{"Proxy-Authorization": "", "Authorization": "Bearer abc"},
		},
		{
			name: "TE other than trailers dropped", target: "/p", host: "api.example.com", remote: "203.0.113.9:1",
			header: http.Header{"Te": {"gzip"}},
			want:   map[string]string{"Te": ""},
		},
		{
			name: "TE trailers kept", target: "/p", host: "api.example.com", remote: "203.0.113.9:1",
			header: http.Header{"Te": {"trailers"}},
			want:   map[string]string{"Te": "trailers"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.host != "" {
				r.Host = tt.host
			}
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header[k] = v
			}
			rec, err := call(h, r, &pipeline.Exchange{ID: "req-7", TLS: tt.tls})
			if err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			s := decodeSeen(t, rec.Body.String())
			got := map[string]string{}
			for k := range tt.want {
				got[k] = strings.Join(s.Header[k], "|")
			}
			if tt.want["X-Request-Id"] == "" {
				delete(got, "X-Request-Id")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("upstream headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGatewayHeadersSurviveConnection(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	rt := &config.Route{RequestHeaders: &config.HeaderRules{Set: map[string]string{"X-Gateway": "gantry"}}}
	h := newProxy(t, nil, rt, Options{}, up.URL)
	r := httptest.NewRequest("GET", "/p", nil)
	r.Header.Set("Connection", "keep-alive, X-Request-ID, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Consumer-ID, X-Consumer-Groups, X-Gateway, X-Real-IP")
	x := &pipeline.Exchange{ID: "req-conn", Consumer: &pipeline.Consumer{ID: "acme", Groups: []string{"partners", "beta"}}}
	rec, err := call(h, r, x)
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	s := decodeSeen(t, rec.Body.String())
	want := map[string]string{
		"X-Request-Id": "req-conn", "X-Forwarded-For": "192.0.2.1", "X-Forwarded-Host": "example.com",
		"X-Forwarded-Proto": "http", "X-Consumer-Id": "acme", "X-Consumer-Groups": "partners,beta",
		"X-Gateway": "gantry", "X-Real-Ip": "192.0.2.1", "Connection": "",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = strings.Join(s.Header[k], "|")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstream headers (-want +got):\n%s", diff)
	}
}

func TestConsumerHeaders(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	h := newProxy(t, nil, nil, Options{}, up.URL)
	tests := []struct {
		name       string
		consumer   *pipeline.Consumer
		wantID     string
		wantGroups string
	}{
		{"anonymous: client values removed", nil, "", ""},
		{"consumer with groups", &pipeline.Consumer{ID: "acme", Groups: []string{"partners"}}, "acme", "partners"},
		{"consumer without groups", &pipeline.Consumer{ID: "globex"}, "globex", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/p", nil)
			// Canonical, lower-case and odd-case spellings, as a map can
			// hold them when they bypass canonicalisation.
			r.Header["X-Consumer-Id"] = []string{"admin"}
			r.Header["x-consumer-id"] = []string{"admin"}
			r.Header["X-CONSUMER-GROUPS"] = []string{"admins"}
			r.Header["x-consumer-groups"] = []string{"admins"}
			rec, err := call(h, r, &pipeline.Exchange{Consumer: tt.consumer})
			if err != nil {
				t.Fatalf("ServeHTTP() error: %v", err)
			}
			s := decodeSeen(t, rec.Body.String())
			if got := strings.Join(s.Header["X-Consumer-Id"], "|"); got != tt.wantID {
				t.Errorf("upstream X-Consumer-Id = %q, want %q", got, tt.wantID)
			}
			if got := strings.Join(s.Header["X-Consumer-Groups"], "|"); got != tt.wantGroups {
				t.Errorf("upstream X-Consumer-Groups = %q, want %q", got, tt.wantGroups)
			}
		})
	}
}

func TestHeaderRules(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t)
	rt := &config.Route{
		RequestHeaders: &config.HeaderRules{
			Set:    map[string]string{"x-gateway": "gantry", "X-Tenant": "acme", "Host": "users.internal"},
			Add:    map[string]string{"X-Tag": "gw"},
			Remove: []string{"x-debug", "Cookie"},
		},
		ResponseHeaders: &config.HeaderRules{
			Set:    map[string]string{"Cache-Control": "no-store"},
			Add:    map[string]string{"X-Served-By": "gantry"},
			Remove: []string{"server"},
		},
	}
	h := newProxy(t, nil, rt, Options{}, up.URL)
	r := httptest.NewRequest("GET", "/p", nil)
	r.Header.Set("X-Debug", "1")
	r.Header.Set("Cookie", "session=abc")
	r.Header.Set("X-Tenant", "globex")
	r.Header.Set("X-Tag", "client")
	rec, err := call(h, r, &pipeline.Exchange{})
	if err != nil {
		t.Fatalf("ServeHTTP() error: %v", err)
	}
	s := decodeSeen(t, rec.Body.String())
	gotReq := map[string][]string{}
	for _, k := range []string{"X-Gateway", "X-Tenant", "X-Tag", "X-Debug", "Cookie"} {
		gotReq[k] = s.Header[k]
	}
	wantReq := map[string][]string{"X-Gateway": {"gantry"}, "X-Tenant": {"acme"}, "X-Tag": {"client", "gw"}, "X-Debug": nil, "Cookie": nil}
	if diff := cmp.Diff(wantReq, gotReq); diff != "" {
		t.Errorf("upstream request headers (-want +got):\n%s", diff)
	}
	if s.Host != "users.internal" {
		t.Errorf("upstream Host = %q, want the rule's users.internal", s.Host)
	}
	gotRes := map[string][]string{}
	for _, k := range []string{"Cache-Control", "X-Served-By", "Server", "Content-Type"} {
		gotRes[k] = rec.Header()[k]
	}
	wantRes := map[string][]string{"Cache-Control": {"no-store"}, "X-Served-By": {"gantry"}, "Server": nil, "Content-Type": {"application/json"}}
	if diff := cmp.Diff(wantRes, gotRes); diff != "" {
		t.Errorf("response headers (-want +got):\n%s", diff)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		up      *config.Upstream
		rt      *config.Route
		wantErr string
	}{
		{"bad name", nil, &config.Route{RequestHeaders: &config.HeaderRules{Set: map[string]string{"X Bad": "1"}}}, "invalid header name"},
		{"value with newline", nil, &config.Route{RequestHeaders: &config.HeaderRules{Set: map[string]string{"X-A": "1\r\nX-Consumer-ID: admin"}}}, "invalid value"},
		{"framing header", nil, &config.Route{RequestHeaders: &config.HeaderRules{Set: map[string]string{"Content-Length": "0"}}}, "cannot be changed"},
		{"transfer-encoding removal", nil, &config.Route{ResponseHeaders: &config.HeaderRules{Remove: []string{"transfer-encoding"}}}, "cannot be changed"},
		{"response host", nil, &config.Route{ResponseHeaders: &config.HeaderRules{Set: map[string]string{"Host": "x"}}}, "Host can only be set"},
		{"request host add", nil, &config.Route{RequestHeaders: &config.HeaderRules{Add: map[string]string{"Host": "x"}}}, "Host can only be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := tt.up
			if up == nil {
				up = &config.Upstream{}
			}
			up.Targets = []*config.Target{{URL: "http://127.0.0.1:9101"}}
			pool := mustPool(t, up)
			_, err := New(pool, up, tt.rt, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := New(nil, nil, nil, Options{}); err == nil {
		t.Errorf("New(nil pool) succeeded")
	}
}

func TestNoExchange(t *testing.T) {
	t.Parallel()
	h := newProxy(t, nil, nil, Options{}, "http://127.0.0.1:9101")
	err := h.ServeHTTP(newRecorder(), httptest.NewRequest("GET", "/", nil))
	if he, ok := err.(*pipeline.HTTPError); !ok || he.Status != http.StatusInternalServerError {
		t.Fatalf("ServeHTTP() without exchange = %v, want a 500 HTTPError", err)
	}
}
