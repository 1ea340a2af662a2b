package keyauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const testKey = "gk_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1"

func TestExtract(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", maxKeyLen+1)
	tests := []struct {
		name      string
		query     string // Options.Query
		headers   []string
		target    string
		wantKey   string
		present   bool
		wantErr   error
		wantQuery string // RawQuery afterwards
	}{
		{name: "absent", query: "api_key", target: "/orders?page=2", wantQuery: "page=2"},
		{name: "header", headers: []string{testKey}, target: "/orders", wantKey: testKey, present: true},
		{name: "header trimmed", headers: []string{"  " + testKey + "\t"}, target: "/", wantKey: testKey, present: true},
		{name: "empty header is no key", headers: []string{"   "}, target: "/"},
		{name: "same key on two header lines", headers: []string{testKey, testKey}, target: "/", wantKey: testKey, present: true},
		{name: "two keys in headers", headers: []string{testKey, "gk_other"}, target: "/", present: true, wantErr: ErrAmbiguousKey},
		{name: "query", query: "api_key", target: "/orders?api_key=" + testKey, wantKey: testKey, present: true},
		{name: "query with other params", query: "api_key", target: "/orders?a=1&api_key=" + testKey + "&b=2", wantKey: testKey, present: true, wantQuery: "a=1&b=2"},
		{name: "query escaped value", query: "api_key", target: "/?api_key=gk_a%2Bb%20", wantKey: "gk_a+b", present: true},
		{name: "query escaped name", query: "api_key", target: "/?api%5Fkey=" + testKey + "&x=1", wantKey: testKey, present: true, wantQuery: "x=1"},
		{name: "query bad escape", query: "api_key", target: "/?api_key=%zz&x=1", present: true, wantErr: ErrInvalidKey, wantQuery: "x=1"},
		{name: "query twice different", query: "api_key", target: "/?api_key=a&api_key=b", present: true, wantErr: ErrAmbiguousKey},
		{name: "query disabled", target: "/?api_key=" + testKey, wantQuery: "api_key=" + testKey},
		{name: "query empty value", query: "api_key", target: "/?api_key=&x=1", wantQuery: "x=1"},
		{name: "similar names kept", query: "api_key", target: "/?api_keys=1&xapi_key=2&api_key=" + testKey, wantKey: testKey, present: true, wantQuery: "api_keys=1&xapi_key=2"},
		{name: "both equal", query: "api_key", headers: []string{testKey}, target: "/?api_key=" + testKey, wantKey: testKey, present: true},
		{name: "both different", query: "api_key", headers: []string{testKey}, target: "/?api_key=gk_other", present: true, wantErr: ErrAmbiguousKey},
		{name: "header and empty query", query: "api_key", headers: []string{testKey}, target: "/?api_key=", wantKey: testKey, present: true},
		{name: "oversized header", headers: []string{long}, target: "/", present: true, wantErr: ErrInvalidKey},
		{name: "oversized query", query: "api_key", target: "/?api_key=" + long, present: true, wantErr: ErrInvalidKey},
		{name: "largest allowed", headers: []string{long[1:]}, target: "/", wantKey: long[1:], present: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := extractor{header: "X-Api-Key", query: tt.query}
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for _, h := range tt.headers {
				r.Header.Add("X-API-Key", h)
			}
			key, present, err := x.extract(r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("extract() error = %v, want %v", err, tt.wantErr)
			}
			if key != tt.wantKey || present != tt.present {
				t.Errorf("extract() = %q, %v; want %q, %v", key, present, tt.wantKey, tt.present)
			}
			if _, ok := r.Header["X-Api-Key"]; ok {
				t.Errorf("header still present after extract")
			}
			if r.URL.RawQuery != tt.wantQuery {
				t.Errorf("RawQuery = %q, want %q", r.URL.RawQuery, tt.wantQuery)
			}
			if u, err := url.ParseRequestURI(r.RequestURI); tt.query != "" && (err != nil || u.Query().Has(tt.query)) {
				t.Errorf("RequestURI = %q still carries the key", r.RequestURI)
			}
			if err != nil && tt.wantKey == "" && strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

// TestStripQueryKeepsOthers checks that removing the key leaves every other
// byte of the query, escapes and odd separators included, as it was.
func TestStripQueryKeepsOthers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, want string
	}{
		{"only the key", "api_key=K", ""},
		{"first", "api_key=K&b=%2F%2f+x", "b=%2F%2f+x"},
		{"middle", "a=1&api_key=K&b=2", "a=1&b=2"},
		{"last", "z=%41&y=%e2%82%ac&api_key=K", "z=%41&y=%e2%82%ac"},
		{"empty segments kept", "x=1&&api_key=K&&y", "x=1&&&y"},
		{"no value params", "flag&api_key=K&other=", "flag&other="},
		{"semicolon stays", "a=1;b=2&api_key=K", "a=1;b=2"},
		{"repeated other params", "t=1&t=2&api_key=K&t=3", "t=1&t=2&t=3"},
		{"encoded name", "api%5Fkey=K&q=a+b", "q=a+b"},
		{"plus in name is a space", "api+key=K&api_key=K", "api+key=K"},
		{"unicode", "name=J%C3%BCrgen&api_key=K&city=M%FCnchen", "name=J%C3%BCrgen&city=M%FCnchen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := extractor{header: "X-Api-Key", query: "api_key"}
			r := httptest.NewRequest(http.MethodGet, "/v1/orders?"+tt.raw, nil)
			key, _, err := x.extract(r)
			if err != nil || key != "K" {
				t.Fatalf("extract() = %q, %v; want K", key, err)
			}
			if r.URL.RawQuery != tt.want {
				t.Errorf("RawQuery = %q, want %q", r.URL.RawQuery, tt.want)
			}
			wantURI := "/v1/orders"
			if tt.want != "" {
				wantURI += "?" + tt.want
			}
			if r.RequestURI != wantURI {
				t.Errorf("RequestURI = %q, want %q", r.RequestURI, wantURI)
			}
		})
	}
}

// TestStripQueryRewrittenURL covers a request whose URL an earlier step
// rewrote: RequestURI keeps the client's query, and both lose the key.
func TestStripQueryRewrittenURL(t *testing.T) {
	t.Parallel()
	x := extractor{header: "X-Api-Key", query: "api_key"}
	r := httptest.NewRequest(http.MethodGet, "/v2/orders?api_key=K&v=2", nil)
	r.URL.Path, r.URL.RawQuery = "/orders", "api_key=K&v=2&added=1"
	key, _, err := x.extract(r)
	if err != nil || key != "K" {
		t.Fatalf("extract() = %q, %v; want K", key, err)
	}
	if r.URL.RawQuery != "v=2&added=1" || r.RequestURI != "/v2/orders?v=2" {
		t.Errorf("RawQuery = %q, RequestURI = %q; want %q, %q", r.URL.RawQuery, r.RequestURI, "v=2&added=1", "/v2/orders?v=2")
	}
}
