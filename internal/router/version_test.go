package router

import (
	"net/http"
	"net/url"
	"testing"
)

func TestPathVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, ver, rest string
		ok              bool
	}{
		{"/v2/orders/7", "v2", "/orders/7", true},
		{"/v2", "v2", "/", true},
		{"/v2/", "v2", "/", true},
		{"/V10/x", "V10", "/x", true},
		{"/v2.1/x", "v2.1", "/x", true},
		{"/v2.1", "v2.1", "/", true},
		{"/v2.x/y", "", "/v2.x/y", false},
		{"/v2./y", "", "/v2./y", false},
		{"/v/y", "", "/v/y", false},
		{"/version/y", "", "/version/y", false},
		{"/v2beta/y", "", "/v2beta/y", false},
		{"/x/v2", "", "/x/v2", false},
		{"/", "", "/", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		ver, rest, ok := pathVersion(tt.path)
		if ver != tt.ver || rest != tt.rest || ok != tt.ok {
			t.Errorf("pathVersion(%q) = %q, %q, %v; want %q, %q, %v", tt.path, ver, rest, ok, tt.ver, tt.rest, tt.ok)
		}
	}
}

func TestQueryValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, key, want string
	}{
		{"version=v2", "version", "v2"},
		{"a=1&version=v2&version=v3", "version", "v2"},
		{"versions=v2", "version", ""},
		{"version", "version", ""},
		{"version=", "version", ""},
		{"ver%73ion=v%32", "version", "v2"},
		{"version=a+b", "version", "a b"},
		{"version=%zz&version=v3", "version", "v3"},
		{"a=1;version=v2&version=v4", "version", "v4"},
		{"", "version", ""},
	}
	for _, tt := range tests {
		if got := queryValue(tt.raw, tt.key); got != tt.want {
			t.Errorf("queryValue(%q, %q) = %q, want %q", tt.raw, tt.key, got, tt.want)
		}
		// Same answer as the standard library, which builds the whole map.
		vals, _ := url.ParseQuery(tt.raw)
		if std := vals.Get(tt.key); std != tt.want {
			t.Errorf("url.ParseQuery(%q).Get(%q) = %q, but queryValue gives %q", tt.raw, tt.key, std, tt.want)
		}
	}
}

func TestVersionExtract(t *testing.T) {
	t.Parallel()
	v := &versioning{from: []versionSource{{kind: fromHeader, name: "Api-Version"}, {kind: fromPath}}, def: "v1"}
	r := &http.Request{Header: http.Header{"Api-Version": {" V3 "}}}
	if ver, rest := v.extract(r, "/v2/x"); ver != "v3" || rest != "/v2/x" {
		t.Errorf("extract = %q, %q; want v3 from the header with the path kept", ver, rest)
	}
	if ver, rest := v.extract(&http.Request{}, "/v2/x"); ver != "v2" || rest != "/x" {
		t.Errorf("extract = %q, %q; want v2 from the path", ver, rest)
	}
	if ver, rest := v.extract(nil, "/x"); ver != "v1" || rest != "/x" {
		t.Errorf("extract(nil) = %q, %q; want the default", ver, rest)
	}
}
