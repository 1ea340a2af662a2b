package wire

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target  string
		want    string
		encoded bool
		wantErr bool
	}{
		{target: "/", want: "/"},
		{target: "/orders/42", want: "/orders/42"},
		{target: "/orders/42/", want: "/orders/42/"},
		{target: "/orders?id=1&x=/../", want: "/orders"},
		{target: "/.well-known/jwks.json", want: "/.well-known/jwks.json"},
		{target: "/a/...", want: "/a/..."},

		// Dot segments, literal and encoded.
		{target: "/public/../admin", want: "/admin"},
		{target: "/public/%2e%2e/admin", want: "/admin"},
		{target: "/public/%2E%2E/admin", want: "/admin"},
		{target: "/public/.%2e/admin", want: "/admin"},
		{target: "/a/./b/", want: "/a/b/"},
		{target: "/a/%2e/b", want: "/a/b"},
		{target: "/../a", want: "/a"},
		{target: "/..", want: "/"},
		{target: "/.", want: "/"},
		{target: "/%2e", want: "/"},
		{target: "/a/..", want: "/"},
		{target: "/a/b/..", want: "/a/"},
		{target: "/a/.", want: "/a/"},
		{target: "/a/b/../../../c", want: "/c"},
		{target: "/a/b/../c/./d", want: "/a/c/d"},

		// Repeated slashes.
		{target: "//admin", want: "/admin"},
		{target: "/a//b//", want: "/a/b/"},
		{target: "///", want: "/"},
		{target: "/a//../b", want: "/b"},

		// Encoded slashes and backslashes stay encoded.
		// A dot or empty piece behind an encoded slash or backslash: an
		// upstream that decodes %2F (or reads \ as /) resolves it.
		{target: "/public/..%2fadmin", wantErr: true},
		{target: "/public/%2e%2e%2fadmin", wantErr: true},
		{target: "/a/%2e%2e%2f", wantErr: true},
		{target: "/files/%2Fadmin", wantErr: true},
		{target: "/files/a%2F", wantErr: true},
		{target: "/files/a%2F%2Fb", wantErr: true},
		{target: "/files/a%2F.%2Fb", wantErr: true},
		{target: "/files/a%5C..%5Cb", wantErr: true},
		{target: "/files/..;x%2Fb", wantErr: true},
		{target: "/0\\;", wantErr: true},
		{target: "/files/a%2F;x", wantErr: true},
		{target: "/files/a;x%2Fb", want: "/files/a;x%2Fb", encoded: true},
		{target: "/files/a%2Fb%2Fc.txt", want: "/files/a%2Fb%2Fc.txt", encoded: true},
		{target: "/files/a%2F...%2Fb", want: "/files/a%2F...%2Fb", encoded: true},
		{target: "/files/%252F..%252Fb", want: "/files/%252F..%252Fb"},
		{target: "/files/a%2Fb", want: "/files/a%2Fb", encoded: true},
		{target: "/public\\..\\admin", wantErr: true},
		{target: "/a%5cb", want: "/a%5Cb", encoded: true},
		{target: "/a%2F/../b", want: "/b", encoded: true},

		// Decoding.
		{target: "/%7Euser", want: "/~user"},
		{target: "/%41%42c", want: "/ABc"},
		{target: "/caf%C3%A9", want: "/café"},
		{target: "/café", want: "/café"},
		{target: "/%E2%82%AC", want: "/€"},
		{target: "/a%3Fb", want: "/a?b"},
		{target: "/tags/C%23", want: "/tags/C#"},
		{target: "/a%25", want: "/a%25"},
		{target: "/a%252F", want: "/a%252F"},
		{target: "/a%3bx", want: "/a;x"},

		// Parameters are literal.
		{target: "/admin;x=1/y", want: "/admin;x=1/y"},
		{target: "/a/...;x", want: "/a/...;x"},
		{target: "/a/x;/..", want: "/a/"},
		{target: "/..;/admin", wantErr: true},
		{target: "/public/..;x/admin", wantErr: true},
		{target: "/public/.;x/admin", wantErr: true},
		{target: "/public/%2e%2e%3b/admin", wantErr: true},

		// Absolute form.
		{target: "http://evil.example/p?q", want: "/p"},
		{target: "HTTPS://evil.example:8443/a/../b", want: "/b"},
		{target: "http://evil.example", want: "/"},
		{target: "http://evil.example?x=1", want: "/"},
		{target: "1http://evil.example/p", wantErr: true},
		{target: "://evil.example/p", wantErr: true},

		// Refused.
		{target: "*", wantErr: true},
		{target: "evil.example:443", wantErr: true},
		{target: "admin", wantErr: true},
		{target: "", wantErr: true},
		{target: "/admin#frag", wantErr: true},
		{target: "/admin?x#frag", wantErr: true},
		{target: "/admin%00.json", wantErr: true},
		{target: "/admin\x00.json", wantErr: true},
		{target: "/%c0%ae%c0%ae/admin", wantErr: true},
		{target: "/%c0%ae%c0%ae/../admin", wantErr: true},
		{target: "/%ff", wantErr: true},
		{target: "/\xff", wantErr: true},
		{target: "/a%zz", wantErr: true},
		{target: "/a%4", wantErr: true},
		{target: "/a%", wantErr: true},
		{target: "/a%0a", wantErr: true},
		{target: "/a%0D%0ASet-Cookie:x", wantErr: true},
		{target: "/a%7f", wantErr: true},
		{target: "/a\x7f", wantErr: true},
		{target: "/a\tb", wantErr: true},
		{target: "/a b", wantErr: true},
		{target: "/a%20b", wantErr: true},
		{target: "/admin%20/x", wantErr: true},
		{target: "/admin/%20", wantErr: true},
		{target: "/a%2520b", want: "/a%2520b"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			got, encoded, err := canonical(tt.target)
			if tt.wantErr {
				var he *pipeline.HTTPError
				if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
					t.Fatalf("canonical(%q) = %q, %v, %v; want a 400 error", tt.target, got, encoded, err)
				}
				return
			}
			if err != nil || got != tt.want || encoded != tt.encoded {
				t.Fatalf("canonical(%q) = %q, %v, %v; want %q, %v, nil", tt.target, got, encoded, err, tt.want, tt.encoded)
			}
			back, enc2, err := canonical(EscapePath(got))
			if err != nil || back != got || enc2 != hasEncodedSlash(got) {
				t.Errorf("canonical(EscapePath(%q) = %q) = %q, %v, %v", got, EscapePath(got), back, enc2, err)
			}
		})
	}
}

func TestCanonicalPathRequest(t *testing.T) {
	t.Parallel()
	h1 := httptest.NewRequest(http.MethodGet, "/public/%2e%2e/admin?x=1", nil)
	if got, _, err := CanonicalPath(h1); err != nil || got != "/admin" {
		t.Errorf("CanonicalPath(HTTP/1 %q) = %q, %v; want /admin", h1.RequestURI, got, err)
	}

	// A request without RequestURI, as HTTP/2 code or tests may build one.
	h2 := &http.Request{ProtoMajor: 2, URL: &url.URL{Path: "/public/../a/b", RawPath: "/public/%2E%2E/a%2Fb"}}
	got, encoded, err := CanonicalPath(h2)
	if err != nil || got != "/a%2Fb" || !encoded {
		t.Errorf("CanonicalPath(HTTP/2 %q) = %q, %v, %v; want /a%%2Fb, true", h2.URL.RawPath, got, encoded, err)
	}

	empty := &http.Request{URL: &url.URL{}}
	if got, _, err := CanonicalPath(empty); err != nil || got != "/" {
		t.Errorf("CanonicalPath(empty URL) = %q, %v; want /", got, err)
	}
	if _, _, err := CanonicalPath(&http.Request{}); err == nil {
		t.Error("CanonicalPath(no URL) succeeded")
	}
}

func TestEscapePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/orders/42", "/orders/42"},
		{"/a b", "/a%20b"},
		{"/a?b#c", "/a%3Fb%23c"},
		{"/café", "/caf%C3%A9"},
		{"/a%2Fb%5Cc%25d", "/a%2Fb%5Cc%25d"},
		{"/a%41", "/a%2541"},
		{"/a%2f", "/a%252f"},
		{"/100%", "/100%25"},
		{"/a\\b", "/a%5Cb"},
		{"/a;x=1/~u@h:p!$&'()*+,=", "/a;x=1/~u@h:p!$&'()*+,="},
		{`/"<>[]^` + "`{|}", "/%22%3C%3E%5B%5D%5E%60%7B%7C%7D"},
	}
	for _, tt := range tests {
		if got := EscapePath(tt.in); got != tt.want {
			t.Errorf("EscapePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalNoAlloc(t *testing.T) {
	for _, target := range []string{"/orders/42?expand=items", "/.well-known/jwks.json", "/a/b/"} {
		n := testing.AllocsPerRun(100, func() {
			if _, _, err := canonical(target); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("canonical(%q) allocates %v times, want 0", target, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { EscapePath("/orders/42") }); n != 0 {
		t.Errorf("EscapePath(plain) allocates %v times, want 0", n)
	}
}

func TestStripMatrixParams(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/admin/y", "/admin/y"},
		{"/admin;x=1/y", "/admin/y"},
		{"/admin;jsessionid=1", "/admin"},
		{"/private;/x", "/private/x"},
		{"/admin/;jsessionid=1", "/admin/"},
		{"/a/;x/b", "/a/b"},
		{"/;x", "/"},
		{"/;x/admin", "/admin"},
		{"/a;x/", "/a/"},
		{"/a;x;y=2/b;z", "/a/b"},
		{"/...;x/a", "/.../a"},
		{"/", "/"},
	}
	for _, tt := range tests {
		if got := StripMatrixParams(tt.in); got != tt.want {
			t.Errorf("StripMatrixParams(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMatrixSuffix(t *testing.T) {
	t.Parallel()
	tests := []struct{ orig, fwd, want string }{
		{"/admin;x=1/y", "/admin/y", "/admin;x=1/y"},
		{"/api;v=1/users;id=7", "/users", "/users;id=7"},
		{"/api/;x/users", "/users", "/;x/users"},
		{"/api;v=1", "/", "/"},
		{"/api/;jsessionid=1", "/", "/;jsessionid=1"},
		{"/api/users;a/;b", "/users/", "/users;a/;b"},
		{"/v1;x/users", "/users", "/users"},
		{"/;x/a", "/a", "/;x/a"},
		{"/a/b", "/a/b", "/a/b"},
	}
	for _, tt := range tests {
		if got := MatrixSuffix(tt.orig, tt.fwd); got != tt.want {
			t.Errorf("MatrixSuffix(%q, %q) = %q, want %q", tt.orig, tt.fwd, got, tt.want)
		}
	}
}

func TestStripMatrixParamsNoAlloc(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { StripMatrixParams("/api/v1/orders/42") }); n != 0 {
		t.Errorf("StripMatrixParams allocates %v times for a path without ';'", n)
	}
}
