package forward

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRemoveCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "none", in: nil, want: nil},
		{name: "only it", in: []string{"side=abc"}, want: nil},
		{name: "among others", in: []string{"theme=dark; side=abc; lang=en"}, want: []string{"theme=dark; lang=en"}},
		{name: "several lines", in: []string{"side=abc", "theme=dark;side=x"}, want: []string{"theme=dark"}},
		{name: "prefix is another cookie", in: []string{"sidecar=1; side2=2"}, want: []string{"sidecar=1; side2=2"}},
		{name: "untouched when absent", in: []string{"a=1;;b=2"}, want: []string{"a=1;;b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.in != nil {
				h["Cookie"] = tt.in
			}
			RemoveCookie(h, "side")
			if diff := cmp.Diff(tt.want, h["Cookie"]); diff != "" {
				t.Errorf("Cookie after RemoveCookie (-want +got):\n%s", diff)
			}
		})
	}
}
