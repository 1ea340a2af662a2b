package aggregate

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestRenderPathSegments checks that a value never leaves its path segment
// and that route parameters are decoded once and encoded once (#13).
func TestRenderPathSegments(t *testing.T) {
	t.Parallel()
	answer := map[string]any{
		"dotdot": "..", "dot": ".", "empty": "", "slash": "a/b", "dotslash": "../admin",
		"enc": "%2e%2e", "dots3": "...", "name": "ada", "num": "7",
	}
	tests := []struct {
		name    string
		text    string
		params  []pipeline.Param
		want    string
		wantErr string
	}{
		{name: "dot-dot field", text: "/internal/users/{src.dotdot}/profile", wantErr: `{src.dotdot}: the value makes the path segment ".."`},
		{name: "dot field", text: "/internal/users/{src.dot}/profile", wantErr: `the path segment "."`},
		{name: "empty field", text: "/internal/users/{src.empty}/profile", wantErr: `the path segment ""`},
		{name: "empty field at the end", text: "/internal/users/{src.empty}", wantErr: `the path segment ""`},
		{name: "two dots from two values", text: "/u/{src.dot}{src.dot}/x", wantErr: `the path segment ".."`},
		{name: "dot next to a literal dot", text: "/u/.{src.dot}", wantErr: `the path segment ".."`},
		{name: "dot next to an encoded dot", text: "/u/%2e{src.dot}", wantErr: `the path segment "%2e."`},
		{name: "dot inside text is fine", text: "/u/{src.dot}json", want: "/u/.json"},
		{name: "three dots are a name", text: "/u/{src.dots3}", want: "/u/..."},
		{name: "slash encoded", text: "/u/{src.slash}/p", want: "/u/a%2Fb/p"},
		{name: "slash and dots stay in the segment", text: "/u/{src.dotslash}", want: "/u/..%2Fadmin"},
		{name: "encoded dots are text", text: "/u/{src.enc}", want: "/u/%252e%252e"},
		{name: "dot in a query is fine", text: "/u?id={src.dotdot}&e={src.empty}", want: "/u?id=..&e="},
		{name: "literal empty segment is the operator's", text: "/u//{src.name}/", want: "/u//ada/"},
		{name: "param decoded once", text: "/u/{id}", params: oneParam("id", "%252e"), want: "/u/%252e"},
		{name: "param with an encoded slash", text: "/u/{id}", params: oneParam("id", "a%2Fb"), want: "/u/a%2Fb"},
		{name: "param with an encoded backslash", text: "/u/{id}", params: oneParam("id", "a%5Cb"), want: "/u/a%5Cb"},
		{name: "param non-ASCII", text: "/u/{id}", params: oneParam("id", "über"), want: "/u/%C3%BCber"},
		{name: "param in a query decoded once", text: "/u?q={id}", params: oneParam("id", "%252e%2F"), want: "/u?q=%252e%2F"},
		{name: "catch-all keeps separators", text: "/files/{path}", params: oneParam("path", "a/b%2Fc/d.txt"), want: "/files/a/b%2Fc/d.txt"},
		{name: "catch-all trailing slash", text: "/files/{path}", params: oneParam("path", "a/b/"), want: "/files/a/b/"},
		{name: "catch-all dot segment", text: "/files/{path}", params: oneParam("path", "a/../b"), wantErr: `the path segment ".."`},
		{name: "param empty", text: "/u/{id}/x", params: oneParam("id", ""), wantErr: `the path segment ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, err := parseTemplate(tt.text, kindPath)
			if err != nil {
				t.Fatalf("parseTemplate(%q) error: %v", tt.text, err)
			}
			for _, r := range tp.refs() {
				if !r.isParam() {
					r.call = 0
				}
			}
			got, err := tp.render([]byte("prefix"), &env{params: tt.params, results: []any{answer}, elem: -1})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("render(%q) = %s, %v; want error %q", tt.text, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("render(%q) error: %v", tt.text, err)
			}
			if got := strings.TrimPrefix(string(got), "prefix"); got != tt.want {
				t.Errorf("render(%q) = %s, want %s", tt.text, got, tt.want)
			}
		})
	}
}

func TestRenderParamElsewhere(t *testing.T) {
	t.Parallel()
	e := &env{params: oneParam("id", "%252e%2F"), elem: -1}
	tests := []struct {
		kind templateKind
		text string
		want string
	}{
		{kindHeader, "x-{id}", "x-%2e/"},
		{kindBody, `{"id": {id}, "s": "<{id}>"}`, `{"id": "%2e/", "s": "<%2e/>"}`},
	}
	for _, tt := range tests {
		tp, err := parseTemplate(tt.text, tt.kind)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tp.render(nil, e)
		if err != nil || string(got) != tt.want {
			t.Errorf("render(%q) = %s, %v; want %s", tt.text, got, err, tt.want)
		}
	}
}

func oneParam(name, value string) []pipeline.Param {
	return []pipeline.Param{{Name: name, Value: value}}
}

// TestDotSegmentCall checks what a call whose path value would leave its
// segment gives: never a request; a required call fails the request with
// 502 naming it, an optional one is left out.
func TestDotSegmentCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		id       string
		optional bool
	}{
		{name: "required dot-dot", id: ".."},
		{name: "required dot", id: "."},
		{name: "required empty", id: ""},
		{name: "optional dot-dot", id: "..", optional: true},
		{name: "optional empty", id: "", optional: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var profileHits atomic.Int64
			src := jsonUpstream(t, 0, `{"id":"`+tt.id+`"}`)
			profiles := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				profileHits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"path":"`+r.URL.EscapedPath()+`"}`)
			})
			s := setup{upstreams: map[string][]string{"src": {src.URL}, "internal": {profiles.URL}}}
			h, _ := s.build(t, calls(
				&config.AggregateCall{Name: "src", Upstream: "src", Path: "/src"},
				&config.AggregateCall{Name: "profile", Upstream: "internal", Path: "/internal/users/{src.id}/profile", Optional: tt.optional},
			))
			x := params("1")
			rec, err := serve(h, "/dashboard/1", x)
			if n := profileHits.Load(); n != 0 {
				t.Errorf("profile upstream got %d requests, want none", n)
			}
			if tt.optional {
				if err != nil {
					t.Fatalf("ServeHTTP() error: %v", err)
				}
				if got := rec.Header().Get("X-Gantry-Partial"); got != "profile" {
					t.Errorf("X-Gantry-Partial = %q, want profile", got)
				}
				return
			}
			he := httpError(t, err)
			if he.Status != http.StatusBadGateway || he.Code != pipeline.CodeAggregateFailed {
				t.Errorf("error = %d %s, want 502 aggregate_failed", he.Status, he.Code)
			}
			if want := `aggregate call "profile" failed: {src.id}: the value makes the path segment`; !strings.Contains(he.Message, want) {
				t.Errorf("message = %q, want it to contain %q", he.Message, want)
			}
		})
	}
}

// FuzzPathValue checks that whatever a call's answer holds, a value put in
// a path segment either fails the call or stays one segment that is not a
// dot segment for the upstream.
func FuzzPathValue(f *testing.F) {
	for _, s := range []string{"..", ".", "", "a/b", "../x", "%2e%2e", "%2E", "a\x00b", "ü", "?x", "#", "..;"} {
		f.Add(s, "%252e")
	}
	f.Fuzz(func(t *testing.T, v, param string) {
		tp, err := parseTemplate("/a/{src.v}/b/{id}/c", kindPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range tp.refs() {
			if !r.isParam() {
				r.call = 0
			}
		}
		e := &env{params: oneParam("id", param), results: []any{map[string]any{"v": v}}, elem: -1}
		out, err := tp.render(nil, e)
		if err != nil {
			return
		}
		if strings.ContainsAny(param, "/") {
			return // a {name...} parameter may hold separators
		}
		segs := strings.Split(string(out), "/")
		if len(segs) != 6 || segs[1] != "a" || segs[3] != "b" || segs[5] != "c" {
			t.Fatalf("render(%q, %q) = %q: a value left its segment", v, param, out)
		}
		for _, s := range []string{segs[2], segs[4]} {
			d, err := url.PathUnescape(s)
			if err != nil {
				t.Fatalf("render(%q, %q) = %q: segment %q is not valid escaping", v, param, out, s)
			}
			if d == "" || d == "." || d == ".." {
				t.Fatalf("render(%q, %q) = %q: dot or empty segment %q", v, param, out, s)
			}
		}
	})
}
