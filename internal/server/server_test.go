package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// gatewayConfig is a config with one upstream "app" at url and the given
// routes (YAML list items indented two spaces).
func gatewayConfig(url, routes string) string {
	return fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
upstreams:
  app: {targets: [{url: %q}]}
routes:
%s`, url, routes)
}

const catchAll = `  - name: app
    match: {path_prefix: /}
    upstream: app
`

func parseConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "gantry.yaml")
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return cfg
}

// newServer starts a Server on the config yaml, shut down when the test
// ends.
func newServer(t *testing.T, yaml string) *Server {
	t.Helper()
	s, err := New(Options{Config: parseConfig(t, yaml)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// newRequest is httptest.NewRequest with header's fields added under their
// keys as given: a test may send a name that is not canonical.
func newRequest(method, target string, body io.Reader, header http.Header) *http.Request {
	r := httptest.NewRequest(method, target, body)
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}

// serve serves r and returns what the server answered.
func serve(s *Server, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	return rec
}

func TestHostOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want string
	}{
		{"api.example.com", "api.example.com"},
		{"api.example.com:8443", "api.example.com"},
		{"API.Example.COM", "api.example.com"},
		{"API.Example.COM:80", "api.example.com"},
		{"api.example.com.", "api.example.com"},
		{"api.example.com.:8080", "api.example.com"},
		{"127.0.0.1", "127.0.0.1"},
		{"127.0.0.1:8080", "127.0.0.1"},
		{"[::1]", "::1"},
		{"[::1]:8080", "::1"},
		{"[2001:DB8::1]:443", "2001:db8::1"},
		{"[2001:db8:0:0::1]", "2001:db8::1"}, // the canonical text, as match.hosts holds it
		{"[::ffff:10.0.0.1]:80", "10.0.0.1"}, // an IPv4-mapped address is the IPv4 one
		{"[fe80::1%25eth0]:80", ""},          // a zone: no match.hosts entry can name it
		{"a!b.example", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			r := &http.Request{Host: tt.host}
			if got := hostOf(r); got != tt.want {
				t.Fatalf("hostOf(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	ids := newIDSource()
	tests := []struct {
		name   string
		header []string // X-Request-ID values; nil sends none
		kept   bool
	}{
		{name: "none", header: nil},
		{name: "kept", header: []string{"3f2a9c1e-orders-42"}, kept: true},
		{name: "128 characters kept", header: []string{strings.Repeat("a", 128)}, kept: true},
		{name: "all visible ascii kept", header: []string{"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}, kept: true},
		{name: "too long", header: []string{strings.Repeat("a", 129)}},
		{name: "empty", header: []string{""}},
		{name: "space", header: []string{"abc def"}},
		{name: "tab", header: []string{"abc\tdef"}},
		{name: "control", header: []string{"abc\x01"}},
		{name: "DEL", header: []string{"abc\x7f"}},
		{name: "non-ascii", header: []string{"café"}},
		{name: "two headers", header: []string{"first-id", "second-id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.header {
				r.Header.Add("X-Request-ID", v)
			}
			got := requestID(r, ids)
			if tt.kept {
				if got != tt.header[0] {
					t.Fatalf("requestID() = %q, want the client's %q", got, tt.header[0])
				}
				return
			}
			if len(tt.header) > 0 && got == tt.header[0] {
				t.Fatalf("requestID() kept the invalid client value %q", got)
			}
			if !validRequestID(got) {
				t.Fatalf("generated ID %q is not itself a valid request ID", got)
			}
			if !strings.HasPrefix(got, ids.prefix+"-") {
				t.Fatalf("generated ID %q lacks the process prefix %q", got, ids.prefix)
			}
		})
	}
}

func TestGeneratedRequestIDsAreUnique(t *testing.T) {
	t.Parallel()
	a, b := newIDSource(), newIDSource()
	if a.prefix == b.prefix {
		t.Fatalf("two sources share the prefix %q", a.prefix)
	}
	seen := make(map[string]bool)
	for range 10000 {
		id := a.next()
		if seen[id] {
			t.Fatalf("duplicate ID %q", id)
		}
		seen[id] = true
	}
}

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want bool
	}{
		{"a", true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"", false},
		{" leading", false},
		{"trailing ", false},
		{"new\nline", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if got := validRequestID(tt.id); got != tt.want {
			t.Errorf("validRequestID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{"", `""`},
		{"plain", `"plain"`},
		{`quote " and \ backslash`, `"quote \" and \\ backslash"`},
		{"tab\tnewline\n", `"tab\tnewline\n"`},
		{"\x00\x1f", `"\u0000\u001f"`},
		{"<script>&", `"\u003cscript\u003e\u0026"`},
		{"line\u2028para\u2029", `"line\u2028para\u2029"`},
		{"café ✓", `"café ✓"`},
		{"bad \xff byte", `"bad \ufffd byte"`},
		{"\x7f", "\"\x7f\""},
	}
	for _, tt := range tests {
		got := string(appendJSONString(nil, tt.in))
		if got != tt.want {
			t.Errorf("appendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// It appends; it does not overwrite.
	if got := string(appendJSONString([]byte(`{"a":`), "b")); got != `{"a":"b"` {
		t.Errorf("appendJSONString onto a prefix = %s", got)
	}
}

// FuzzAppendJSONString checks the hand-written encoder against
// encoding/json: always valid JSON, decoding to the input for valid UTF-8
// and to what encoding/json makes of invalid UTF-8.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\n\t\x1f", "<>&", "\u2028\u2029", "\xff\xfe", "\xe2\x82", "é✓🚀", "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		if !json.Valid(out) {
			t.Fatalf("appendJSONString(%q) = %s: not valid JSON", s, out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("decoding %s: %v", out, err)
		}
		if utf8.ValidString(s) {
			if got != s {
				t.Fatalf("round trip of %q = %q", s, got)
			}
			return
		}
		ref, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("invalid UTF-8 %q decodes to %q, encoding/json gives %q", s, got, want)
		}
	})
}

// errorBody is the contract's error body.
type errorBody struct {
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	errUpstream := errors.New("dial tcp 10.0.0.7:8080: connection refused")
	tooLarge := pipeline.Errorf(http.StatusRequestEntityTooLarge, pipeline.CodeBodyTooLarge, "request body is larger than 10 bytes")
	tooLarge.Close = true
	limited := pipeline.Errorf(http.StatusTooManyRequests, pipeline.CodeRateLimited, "slow down")
	limited.Header = http.Header{"Retry-After": {"7"}}
	notAllowed := pipeline.Errorf(http.StatusMethodNotAllowed, pipeline.CodeMethodNotAllowed, "method DELETE not allowed here")
	notAllowed.Header = http.Header{"Allow": {"GET, HEAD"}}

	tests := []struct {
		name       string
		err        error
		id         string
		preset     http.Header // headers already on the response
		want       errorBody
		wantHeader map[string]string // "" means absent
	}{
		{
			name: "plain error hides its text",
			err:  errUpstream,
			id:   "req-1",
			want: errorBody{Status: 500, Error: pipeline.CodeInternal, Message: "internal error", RequestID: "req-1"},
			wantHeader: map[string]string{
				"Content-Type":           "application/json",
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
				"Connection":             "",
			},
		},
		{
			name: "wrapped HTTPError keeps its status",
			err:  fmt.Errorf("route orders: %w", pipeline.Errorf(http.StatusBadGateway, pipeline.CodeBadGateway, "upstream refused the connection")),
			id:   "req-2",
			want: errorBody{Status: 502, Error: pipeline.CodeBadGateway, Message: "upstream refused the connection", RequestID: "req-2"},
		},
		{
			name:       "Allow passes through",
			err:        notAllowed,
			id:         "req-3",
			want:       errorBody{Status: 405, Error: pipeline.CodeMethodNotAllowed, Message: "method DELETE not allowed here", RequestID: "req-3"},
			wantHeader: map[string]string{"Allow": "GET, HEAD"},
		},
		{
			name:       "Retry-After passes through",
			err:        limited,
			id:         "req-4",
			want:       errorBody{Status: 429, Error: pipeline.CodeRateLimited, Message: "slow down", RequestID: "req-4"},
			wantHeader: map[string]string{"Retry-After": "7"},
		},
		{
			name:       "Close asks for Connection: close",
			err:        tooLarge,
			id:         "req-5",
			want:       errorBody{Status: 413, Error: pipeline.CodeBodyTooLarge, Message: "request body is larger than 10 bytes", RequestID: "req-5"},
			wantHeader: map[string]string{"Connection": "close"},
		},
		{
			name: "empty message and code are filled in",
			err:  &pipeline.HTTPError{Status: http.StatusServiceUnavailable},
			id:   "req-6",
			want: errorBody{Status: 503, Error: pipeline.CodeNoHealthyUpstream, Message: "Service Unavailable", RequestID: "req-6"},
		},
		{
			name:       "upstream's partial headers do not leak",
			err:        pipeline.Errorf(http.StatusBadGateway, pipeline.CodeBadGateway, "bad answer"),
			id:         "req-7",
			preset:     http.Header{"Content-Length": {"99999"}, "Content-Encoding": {"gzip"}, "Content-Type": {"text/html"}},
			want:       errorBody{Status: 502, Error: pipeline.CodeBadGateway, Message: "bad answer", RequestID: "req-7"},
			wantHeader: map[string]string{"Content-Encoding": "", "Content-Type": "application/json"},
		},
		{
			name: "hostile text stays JSON",
			err:  pipeline.Errorf(http.StatusBadRequest, pipeline.CodeBadRequest, "bad \"path\" <script>\x00\xff"),
			id:   `id-with-"quote"`,
			want: errorBody{Status: 400, Error: pipeline.CodeBadRequest, Message: "bad \"path\" <script>\x00\ufffd", RequestID: `id-with-"quote"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			for k, vs := range tt.preset {
				rec.Header()[k] = vs
			}
			x := &pipeline.Exchange{ID: tt.id}
			writeError(&responseWriter{ResponseWriter: rec}, x, tt.err, notRPC)
			if rec.Code != tt.want.Status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want.Status)
			}
			body := rec.Body.Bytes()
			if !strings.HasSuffix(string(body), "}\n") {
				t.Errorf("body %q does not end in a newline", body)
			}
			if got := rec.Header().Get("Content-Length"); got != fmt.Sprint(len(body)) {
				t.Errorf("Content-Length = %q, body is %d bytes", got, len(body))
			}
			var got errorBody
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			for k, want := range tt.wantHeader {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestWriteErrorClientClosedWritesNothing(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	x := &pipeline.Exchange{ID: "req-gone"}
	err := pipeline.Error(pipeline.StatusClientClosed, errors.New("client went away"))
	writeError(&responseWriter{ResponseWriter: rec}, x, err, notRPC)
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Fatalf("wrote %q with headers %v to a client that left", rec.Body.String(), rec.Header())
	}
}

func TestWriteErrorAfterResponseStarted(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := &responseWriter{ResponseWriter: rec}
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("partial"))
	writeError(w, &pipeline.Exchange{ID: "req-late"}, pipeline.Errorf(http.StatusBadGateway, pipeline.CodeBadGateway, "upstream reset"), notRPC)
	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Fatalf("after the response started: %d %q, want the original 200 %q", rec.Code, rec.Body.String(), "partial")
	}
	if ct := rec.Header().Get("Content-Type"); ct == "application/json" {
		t.Fatal("error headers were set after the response started")
	}
}

// serveOnce sends one request through s and returns the response.
func serveOnce(t *testing.T, s *Server, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReloadKeepsGenerationOnInvalidConfig(t *testing.T) {
	t.Parallel()
	blue, green := testkit.NewEcho(t, "blue"), testkit.NewEcho(t, "green")
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	writeFile(t, path, gatewayConfig(blue.URL, catchAll))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: cfg, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(t.Context()) })

	servedBy := func() string {
		t.Helper()
		res := serveOnce(t, s, http.MethodGet, "/orders/7")
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /orders/7 = %d", res.StatusCode)
		}
		return res.Header.Get("X-Upstream")
	}
	if got := servedBy(); got != "blue" {
		t.Fatalf("served by %q before any reload, want blue", got)
	}
	first := s.gen.Load().id

	tests := []struct {
		name     string
		config   string
		problems bool // the error is a list of problems, not a YAML syntax error
	}{
		{name: "yaml syntax error", config: gatewayConfig(blue.URL, catchAll) + "  - name: [\n"},
		{name: "unknown upstream", config: gatewayConfig(blue.URL, strings.Replace(catchAll, "upstream: app", "upstream: purple", 1)), problems: true},
		{name: "compile failure", config: strings.Replace(gatewayConfig(blue.URL, catchAll), "upstreams:\n", "upstreams:\n  fn: {lambda: {function: f, region: us-east-1}}\n", 1), problems: true},
		{name: "file removed"},
	}
	for _, tt := range tests {
		if tt.config == "" {
			os.Remove(path)
		} else {
			writeFile(t, path, tt.config)
		}
		res := s.Reload()
		if res.OK || res.Error == "" {
			t.Fatalf("%s: Reload() = %+v, want a failure", tt.name, res)
		}
		if tt.problems && len(res.Problems) == 0 {
			t.Errorf("%s: Reload() lists no problems: %+v", tt.name, res)
		}
		if res.Generation != first {
			t.Errorf("%s: Reload() reports generation %d, want the running %d", tt.name, res.Generation, first)
		}
		if got := s.gen.Load().id; got != first {
			t.Fatalf("%s: generation %d in force, want %d", tt.name, got, first)
		}
		if got := servedBy(); got != "blue" {
			t.Fatalf("%s: served by %q after a failed reload, want blue", tt.name, got)
		}
	}
	if blue.Count() != 1+len(tests) || green.Count() != 0 {
		t.Fatalf("blue saw %d requests, green %d", blue.Count(), green.Count())
	}

	// A valid file is then applied.
	writeFile(t, path, gatewayConfig(green.URL, catchAll))
	res := s.Reload()
	if !res.OK || res.Generation <= first {
		t.Fatalf("valid Reload() = %+v", res)
	}
	if got := servedBy(); got != "green" {
		t.Fatalf("served by %q after a good reload, want green", got)
	}
}

func TestServeHTTPErrors(t *testing.T) {
	t.Parallel()
	e := testkit.NewEcho(t, "app")
	cfg := parseConfig(t, gatewayConfig(e.URL, `  - name: orders
    match: {path_prefix: /orders, methods: [GET]}
    upstream: app
`))
	s, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target string
		status         int
		code           string
	}{
		{http.MethodGet, "/orders/1", http.StatusOK, ""},
		{http.MethodGet, "/users/1", http.StatusNotFound, pipeline.CodeNotFound},
		{http.MethodDelete, "/orders/1", http.StatusMethodNotAllowed, pipeline.CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		res := serveOnce(t, s, tt.method, tt.target)
		b, _ := io.ReadAll(res.Body)
		id := res.Header.Get("X-Request-ID")
		if res.StatusCode != tt.status || id == "" {
			t.Fatalf("%s %s = %d (X-Request-ID %q), want %d", tt.method, tt.target, res.StatusCode, id, tt.status)
		}
		if tt.code == "" {
			continue
		}
		var eb errorBody
		if err := json.Unmarshal(b, &eb); err != nil {
			t.Fatalf("%s %s: body %q: %v", tt.method, tt.target, b, err)
		}
		if eb.Error != tt.code || eb.RequestID != id {
			t.Fatalf("%s %s: body %+v, want error %q and request_id %q", tt.method, tt.target, eb, tt.code, id)
		}
	}
	if s.InFlight() != 0 {
		t.Fatalf("InFlight() = %d after every request finished", s.InFlight())
	}
}
