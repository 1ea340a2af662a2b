package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// raw sends bytes on a fresh connection and returns every response Go can
// parse from what comes back, and whether the gateway closed the connection.
func raw(t *testing.T, addr, payload string) (resps []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	resps, bs, closed := testkit.ReadResponses(c, "", 3*time.Second, 3*time.Second)
	for _, b := range bs {
		bodies = append(bodies, string(b))
	}
	return resps, bodies, closed
}

func hygieneGateway(t *testing.T) (*testkit.Gantry, *testkit.Echo) {
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
  admin: {targets: [{url: %q}]}
routes:
  - name: public
    match: {path_prefix: /public}
    upstream: app
  - name: files
    match: {path_prefix: /files}
    upstream: app
    allow_encoded_slash: true
  - name: ws
    match: {path: /ws}
    upstream: app
`, e.URL, e.URL)))
	return g, e
}

func TestSmuggling(t *testing.T) {
	g, e := hygieneGateway(t)
	tests := []struct {
		name    string
		payload string
	}{
		{"CL and TE", "POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TE and CL", "POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"conflicting Content-Length", "POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabcGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"HTTP/1.0 with TE", "POST /public/a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabcGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			resps, _, closed := raw(t, g.Addr, tt.payload)
			if len(resps) != 1 || resps[0].StatusCode != 400 {
				t.Fatalf("got %d responses (first %v), want one 400", len(resps), statusOf(resps))
			}
			if !closed {
				t.Fatal("connection left open after a smuggling attempt")
			}
			if n := e.Count(); n != 0 {
				t.Fatalf("upstream saw %d requests: %+v", n, e.Requests())
			}
		})
	}
	// Pipelined good requests on one connection are all served.
	e.Reset()
	resps, _, _ := raw(t, g.Addr, "GET /public/1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /public/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /public/3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\nGET /public/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if len(resps) != 4 {
		t.Fatalf("pipelined: %d responses, want 4", len(resps))
	}
	for i, r := range resps {
		if r.StatusCode != 200 {
			t.Fatalf("pipelined response %d: %d", i, r.StatusCode)
		}
	}
}

func statusOf(rs []*http.Response) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.StatusCode)
	}
	return out
}

func TestPathCanonicalisation(t *testing.T) {
	g, e := hygieneGateway(t)
	tests := []struct {
		target string
		status int
		upPath string // what the upstream sees (escaped form on the wire)
	}{
		{"/public/../admin", 404, ""},
		{"/public/%2e%2e/admin", 404, ""},
		{"/public/..%2fadmin", 400, ""},
		{"/public/%2Fadmin", 400, ""},
		{"/public\\..\\admin", 400, ""},
		{"/public/a%00.json", 400, ""},
		{"/public/%c0%ae%c0%ae/admin", 400, ""},
		{"/public/a#frag", 400, ""},
		{"//public//a", 200, "/public/a"},
		{"/public/./a/b/../c", 200, "/public/a/c"},
		{"/public/%7Euser", 200, "/public/~user"},
		{"/public/a%20b", 400, ""},
		{"/files/a%2Fb", 200, "/files/a%2Fb"},
		{"/admin/../public/x", 200, "/public/x"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			e.Reset()
			resps, _, _ := raw(t, g.Addr, "GET "+tt.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if len(resps) != 1 || resps[0].StatusCode != tt.status {
				t.Fatalf("status %v, want %d", statusOf(resps), tt.status)
			}
			if tt.status != 200 {
				if e.Count() != 0 {
					t.Fatalf("upstream saw %+v", e.Requests())
				}
				return
			}
			if got := e.Requests()[0].URI; got != tt.upPath {
				t.Fatalf("upstream request target %q, want %q", got, tt.upPath)
			}
		})
	}
}

func TestHeaderHygiene(t *testing.T) {
	g, e := hygieneGateway(t)
	resps, _, _ := raw(t, g.Addr, "GET /public/h HTTP/1.1\r\nHost: x\r\nX_Consumer_ID: admin\r\nX-Consumer-ID: admin\r\nx-consumer-groups: root\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Fatalf("status %v", statusOf(resps))
	}
	h := http.Header(e.Requests()[0].Header)
	for _, name := range []string{"X_consumer_id", "X-Consumer-Id", "X-Consumer-Groups", "Upgrade", "Http2-Settings"} {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("upstream received %s: %q", name, v)
		}
	}
	for k := range h {
		if strings.Contains(k, "_") {
			t.Errorf("upstream received underscore header %q", k)
		}
	}
}

// TestHeaderHygieneKeepAlive: the hygiene through the binary on requests
// without a Connection field. The serving engine classifies the names it
// reads, and the server skips its walk over a header that holds none the
// hygiene acts on (wire.SanitizeNames); every other test here sends
// Connection (close, or a list), a name that always calls the walk in. So
// each case sends names of one class only, over a kept-alive connection,
// and only that class can call the walk in.
func TestHeaderHygieneKeepAlive(t *testing.T) {
	e := testkit.NewEcho(t, "app")
	routes := fmt.Sprintf(`upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: public
    match: {path_prefix: /public}
    upstream: app
`, e.URL)
	untrusted := testkit.Start(t, base(routes))
	trusted := testkit.Start(t, baseWith("  trusted_proxies: [127.0.0.1/32]", routes))
	tests := []struct {
		name string
		g    *testkit.Gantry
		send map[string]string // names as sent, case included
		want map[string]string // what the upstream gets, any case; "" = absent
	}{
		{
			name: "forwarding fields alone, untrusted peer",
			g:    untrusted,
			send: map[string]string{"x-original-forwarded-for": "203.0.113.7", "Client-IP": "203.0.113.7",
				"TRUE-CLIENT-IP": "203.0.113.7", "X-Forwarded-Prefix": "/evil", "X-Original-URL": "/admin/x",
				"Forwarded": "for=203.0.113.7", "X-Forwarded-For": "203.0.113.7", "X-Custom": "kept"},
			want: map[string]string{"X-Original-Forwarded-For": "", "Client-Ip": "", "True-Client-Ip": "",
				"X-Forwarded-Prefix": "", "X-Original-Url": "", "Forwarded": "", "X-Forwarded-For": "127.0.0.1", "X-Custom": "kept"},
		},
		{
			name: "forwarding fields alone, trusted peer: kept",
			g:    trusted,
			send: map[string]string{"X-Forwarded-Prefix": "/app", "True-Client-IP": "203.0.113.7", "X-Custom": "kept"},
			want: map[string]string{"X-Forwarded-Prefix": "/app", "True-Client-Ip": "203.0.113.7", "X-Custom": "kept"},
		},
		{
			name: "names that are not letters, digits and '-', alone",
			g:    trusted,
			send: map[string]string{"X_Consumer_ID": "admin", "X.Consumer.ID": "admin", "x-custom": "kept"},
			want: map[string]string{"X_Consumer_Id": "", "X.Consumer.Id": "", "X-Consumer-Id": "", "X-Custom": "kept"},
		},
		{
			name: "Proxy alone (httpoxy)",
			g:    trusted,
			send: map[string]string{"proxy": "http://evil.example:8080"},
			want: map[string]string{"Proxy": ""},
		},
		{
			name: "an h2c upgrade's fields, no Connection",
			g:    untrusted,
			send: map[string]string{"Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAoAAAAAIAAAAA"},
			want: map[string]string{"Upgrade": "", "Http2-Settings": ""},
		},
		{
			name: "Connection names a field, no close",
			g:    untrusted,
			send: map[string]string{"Connection": "keep-alive, X-Secret", "X-Secret": "1"},
			want: map[string]string{"X-Secret": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Count()
			req, err := http.NewRequest(http.MethodGet, tc.g.URL+"/public/h", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.send {
				req.Header[k] = []string{v} // as sent: net/http writes the key as it is
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || e.Count() != before+1 {
				t.Fatalf("status %d, upstream requests %d -> %d", res.StatusCode, before, e.Count())
			}
			got := e.Requests()[before].Header
			for name, want := range tc.want {
				var vs []string
				for k, v := range got {
					if strings.EqualFold(k, name) {
						vs = append(vs, v...)
					}
				}
				switch {
				case want == "" && len(vs) > 0:
					t.Errorf("upstream received %s: %q", name, vs)
				case want != "" && (len(vs) != 1 || vs[0] != want):
					t.Errorf("upstream received %s: %q, want %q", name, vs, want)
				}
			}
		})
	}
}

func TestConnectAndAbsoluteForm(t *testing.T) {
	g, e := hygieneGateway(t)
	resps, _, _ := raw(t, g.Addr, "CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 405 {
		t.Fatalf("CONNECT: %v", statusOf(resps))
	}
	resps, _, _ = raw(t, g.Addr, "GET http://evil.example/public/x HTTP/1.1\r\nHost: good.example\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Fatalf("absolute form: %v", statusOf(resps))
	}
	seen := e.Requests()
	if len(seen) != 1 || seen[0].Host == "evil.example" || seen[0].Host == "good.example" {
		t.Fatalf("upstream Host %q, want the target's", seen[0].Host)
	}
	if got := http.Header(seen[0].Header).Get("X-Forwarded-Host"); got != "evil.example" {
		t.Fatalf("X-Forwarded-Host = %q, want the absolute-form authority", got)
	}
}
