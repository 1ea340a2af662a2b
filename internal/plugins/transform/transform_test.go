package transform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

type results struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *results) add(dir, res string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]int{}
	}
	r.m[dir+"/"+res]++
}

func (r *results) get(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[k]
}

func body(set map[string]string, remove []string, rename map[string]string) *config.BodyTransform {
	b := &config.BodyTransform{Remove: remove, Rename: rename, Set: map[string]config.JSONValue{}}
	for k, v := range set {
		b.Set[k] = config.JSONValue(v)
	}
	return b
}

func middleware(t *testing.T, tr *config.Transform, res *results) pipeline.Middleware {
	t.Helper()
	mw, err := New(Config{Transform: tr, OnResult: res.add})
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

func TestRequestBody(t *testing.T) {
	t.Parallel()
	tr := &config.Transform{MaxBodyBytes: 1 << 10, RequestBody: body(map[string]string{"meta.channel": `"api"`}, []string{"debug", "items[].cost"}, map[string]string{"usr": "user"})}
	tests := []struct {
		name, ct, in, want, result string
		chunked                    bool
		encoding                   string
	}{
		{name: "json", ct: "application/json", in: `{"usr":"ann","debug":true,"items":[{"cost":1,"id":"a"}]}`, want: `{"items":[{"id":"a"}],"meta":{"channel":"api"},"user":"ann"}`, result: "request/transformed"},
		{name: "json with charset", ct: "application/json; charset=utf-8", in: `{"debug":1}`, want: `{"meta":{"channel":"api"}}`, result: "request/transformed"},
		{name: "vendor json", ct: "application/vnd.api+json", in: `{"debug":1}`, want: `{"meta":{"channel":"api"}}`, result: "request/transformed"},
		{name: "html escaping kept off", ct: "application/json", in: `{"q":"<a&b>"}`, want: `{"meta":{"channel":"api"},"q":"<a&b>"}`, result: "request/transformed"},
		{name: "not json", ct: "text/plain", in: `{"debug":1}`, want: `{"debug":1}`},
		{name: "no content type", in: `{"debug":1}`, want: `{"debug":1}`},
		{name: "json prefix lookalike", ct: "application/jsonx", in: `{"debug":1}`, want: `{"debug":1}`},
		{name: "over the limit", ct: "application/json", in: `{"debug":"` + strings.Repeat("x", 1100) + `"}`, want: `{"debug":"` + strings.Repeat("x", 1100) + `"}`, result: "request/too_large"},
		{name: "unknown length", ct: "application/json", in: `{"debug":1}`, want: `{"debug":1}`, chunked: true, result: "request/streamed"},
		{name: "compressed", ct: "application/json", in: `not really gzip`, want: `not really gzip`, encoding: "gzip", result: "request/encoded"},
		{name: "invalid", ct: "application/json", in: `{"debug":`, want: `{"debug":`, result: "request/invalid"},
		{name: "two values", ct: "application/json", in: `{} {}`, want: `{} {}`, result: "request/invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var res results
			var got []byte
			var gotLen int64
			var gotHeader string
			h := middleware(t, tr, &res)(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				got, _ = io.ReadAll(r.Body)
				gotLen, gotHeader = r.ContentLength, r.Header.Get("Content-Length")
				return nil
			}))
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(tt.in))
			r.Header.Set("Content-Length", strconv.Itoa(len(tt.in)))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			if tt.encoding != "" {
				r.Header.Set("Content-Encoding", tt.encoding)
			}
			if tt.chunked {
				r.ContentLength = -1
				r.Header.Del("Content-Length")
			}
			if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("upstream got %s, want %s", got, tt.want)
			}
			if !tt.chunked && (gotLen != int64(len(tt.want)) || gotHeader != strconv.Itoa(len(tt.want))) {
				t.Fatalf("ContentLength %d, header %q; want %d", gotLen, gotHeader, len(tt.want))
			}
			if tt.result != "" && res.get(tt.result) != 1 {
				t.Fatalf("results = %v, want one %s", res.m, tt.result)
			}
			if tt.result == "" && len(res.m) != 0 {
				t.Fatalf("results = %v, want none", res.m)
			}
		})
	}
}

func TestRequestBodyReadError(t *testing.T) {
	t.Parallel()
	var res results
	h := middleware(t, &config.Transform{RequestBody: body(nil, []string{"a"}, nil)}, &res)(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatal("the upstream got a request whose body failed")
		return nil
	}))
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a":`))
	r.ContentLength = 20 // more than the client sends
	r.Header.Set("Content-Type", "application/json")
	var be *pipeline.BodyError
	if err := h.ServeHTTP(httptest.NewRecorder(), r); !errors.As(err, &be) {
		t.Fatalf("error = %v, want a *pipeline.BodyError", err)
	}
}

// upstream writes the answer in pieces, with the given headers.
func upstreamAnswer(status int, hdr map[string]string, pieces ...string) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		for _, p := range pieces {
			if _, err := io.WriteString(w, p); err != nil {
				return err
			}
			http.NewResponseController(w).Flush()
		}
		return nil
	})
}

func TestResponseBody(t *testing.T) {
	t.Parallel()
	tr := &config.Transform{MaxBodyBytes: 1 << 10, ResponseBody: body(map[string]string{"served": `1`}, []string{"internal_id", "items[].cost"}, map[string]string{"cust": "customer"})}
	in := `{"cust":"acme","internal_id":7,"items":[{"cost":3,"sku":"a"}]}`
	out := `{"customer":"acme","items":[{"sku":"a"}],"served":1}`
	big := `{"internal_id":"` + strings.Repeat("x", 1100) + `"}`
	cl := func(s string) string { return strconv.Itoa(len(s)) }
	tests := []struct {
		name    string
		method  string
		status  int
		hdr     map[string]string
		pieces  []string
		want    string
		result  string
		flushed bool
	}{
		{name: "json in pieces", status: 200, hdr: map[string]string{"Content-Type": "application/json", "Content-Length": cl(in)}, pieces: []string{in[:10], in[10:]}, want: out, result: "response/transformed"},
		{name: "error status too", status: 404, hdr: map[string]string{"Content-Type": "application/problem+json", "Content-Length": cl(in)}, pieces: []string{in}, want: out, result: "response/transformed"},
		{name: "not json", status: 200, hdr: map[string]string{"Content-Type": "text/html", "Content-Length": cl(in)}, pieces: []string{in}, want: in, flushed: true},
		{name: "unknown length streams", status: 200, hdr: map[string]string{"Content-Type": "application/json"}, pieces: []string{in[:10], in[10:]}, want: in, result: "response/streamed", flushed: true},
		{name: "event stream", status: 200, hdr: map[string]string{"Content-Type": "text/event-stream"}, pieces: []string{"data: {}\n\n"}, want: "data: {}\n\n", flushed: true},
		{name: "compressed", status: 200, hdr: map[string]string{"Content-Type": "application/json", "Content-Encoding": "br", "Content-Length": "3"}, pieces: []string{"abc"}, want: "abc", result: "response/encoded", flushed: true},
		{name: "over the limit", status: 200, hdr: map[string]string{"Content-Type": "application/json", "Content-Length": cl(big)}, pieces: []string{big}, want: big, result: "response/too_large", flushed: true},
		{name: "longer than declared", status: 200, hdr: map[string]string{"Content-Type": "application/json", "Content-Length": "10"}, pieces: []string{big[:600], big[600:]}, want: big, result: "response/too_large", flushed: true},
		{name: "invalid", status: 200, hdr: map[string]string{"Content-Type": "application/json", "Content-Length": "5"}, pieces: []string{`{"a":`}, want: `{"a":`, result: "response/invalid"},
		{name: "head", method: http.MethodHead, status: 200, hdr: map[string]string{"Content-Type": "application/json", "Content-Length": cl(in)}, want: ""},
		{name: "no content", status: 204, hdr: map[string]string{"Content-Type": "application/json"}, want: ""},
		{name: "empty body", status: 200, hdr: map[string]string{"Content-Type": "application/json", "Content-Length": "0"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var res results
			h := middleware(t, tr, &res)(upstreamAnswer(tt.status, tt.hdr, tt.pieces...))
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, httptest.NewRequest(method, "/", nil)); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.status || w.Body.String() != tt.want {
				t.Fatalf("answer %d %s, want %d %s", w.Code, w.Body, tt.status, tt.want)
			}
			if tt.result == "response/transformed" {
				if got := w.Header().Get("Content-Length"); got != cl(tt.want) {
					t.Fatalf("Content-Length = %s, want %d", got, len(tt.want))
				}
			}
			if tt.result != "" && res.get(tt.result) != 1 {
				t.Fatalf("results = %v, want one %s", res.m, tt.result)
			}
			if tt.result == "" && len(res.m) != 0 {
				t.Fatalf("results = %v, want none", res.m)
			}
			if w.Flushed != tt.flushed {
				t.Fatalf("flushed = %v, want %v", w.Flushed, tt.flushed)
			}
		})
	}
}

func TestResponseFailureWritesNothing(t *testing.T) {
	t.Parallel()
	var res results
	tr := &config.Transform{ResponseBody: body(nil, []string{"a"}, nil)}
	cause := fmt.Errorf("%w: upstream reset", http.ErrAbortHandler)
	h := middleware(t, tr, &res)(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, `{"a":`)
		return cause
	}))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil)); err != cause {
		t.Fatalf("error = %v, want the handler's", err)
	}
	if w.Body.Len() != 0 || len(res.m) != 0 {
		t.Fatalf("wrote %q, results %v: want nothing", w.Body, res.m)
	}
}

func TestCompile(t *testing.T) {
	t.Parallel()
	if _, err := Compile(body(map[string]string{"a..b": "1"}, []string{"[0]"}, map[string]string{"a": "b.c"})); err == nil || !strings.Contains(err.Error(), `set "a..b"`) || !strings.Contains(err.Error(), `remove "[0]"`) || !strings.Contains(err.Error(), `rename "a"`) {
		t.Fatalf("Compile error = %v, want every bad path named", err)
	}
	mw, err := New(Config{Transform: &config.Transform{}})
	if mw != nil || err != nil {
		t.Fatalf("New without operations = %v, %v; want no step", mw, err)
	}
}

func FuzzApply(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"items":[{"cost":1}],"usr":"a","meta":null}`, `[{"secret":1}]`, `"x"`, `1e400`, `{"a":{"a":{"a":[]}}}`} {
		f.Add(s)
	}
	ops, err := Compile(body(map[string]string{"meta.channel": `"api"`, "items[].seen": "true", "a.a.a": "null"}, []string{"debug", "items[].cost", "[].secret"}, map[string]string{"usr": "user", "items[].id": "code"}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		out, err := ops.Apply([]byte(doc))
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Apply(%q) = %q, not valid JSON", doc, out)
		}
		// Applying again changes nothing more: the operations are
		// idempotent.
		again, err := ops.Apply(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("second Apply(%q) = %q, %v; want %q", out, again, err, out)
		}
	})
}
