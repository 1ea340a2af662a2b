package wire

import (
	"net/http"
	"testing"
)

func TestUnescapeCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "users", want: "users"},
		{name: "encoded percent", in: "%252e", want: "%2e"},
		{name: "encoded slash", in: "a%2Fb", want: "a/b"},
		{name: "encoded backslash", in: "a%5Cb", want: `a\b`},
		{name: "several", in: "%25%25%2F", want: "%%/"},
		{name: "non-ASCII stays", in: "Zürich", want: "Zürich"},
		{name: "foreign escape kept", in: "%41%2", want: "%41%2"},
	}
	for _, tt := range tests {
		if got := UnescapeCanonical(tt.in); got != tt.want {
			t.Errorf("UnescapeCanonical(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A segment of a canonical path, unescaped, is the client's decoded text.
func TestUnescapeCanonicalRoundTrip(t *testing.T) {
	t.Parallel()
	for target, want := range map[string]string{
		"/x/%252e":     "%2e",
		"/x/%25252e":   "%252e",
		"/x/a%2fb":     "a/b",
		"/x/%C3%BCber": "über",
	} {
		r := &http.Request{RequestURI: target}
		p, _, err := CanonicalPath(r)
		if err != nil {
			t.Fatalf("CanonicalPath(%q): %v", target, err)
		}
		if got := UnescapeCanonical(p[len("/x/"):]); got != want {
			t.Errorf("UnescapeCanonical of %q = %q, want %q", target, got, want)
		}
	}
}
