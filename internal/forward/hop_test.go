package forward

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestRemoveHopByHop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   http.Header
		want []string // the names left
	}{
		{"end to end only", http.Header{"Content-Type": {"a"}, "Date": {"b"}}, []string{"Content-Type", "Date"}},
		{"every hop-by-hop name", http.Header{
			"Connection": {"close"}, "Proxy-Connection": {"x"}, "Keep-Alive": {"x"}, "Proxy-Authenticate": {"x"},
			"Proxy-Authorization": {"x"}, "Te": {"x"}, "Trailer": {"x"}, "Transfer-Encoding": {"x"}, "Upgrade": {"x"},
			"Content-Length": {"3"},
		}, []string{"Content-Length"}},
		{"named in Connection", http.Header{"Connection": {"X-Secret, x-other ,", "keep-alive"}, "X-Secret": {"1"}, "X-Other": {"2"}, "X-Kept": {"3"}},
			[]string{"X-Kept"}},
		{"empty", http.Header{}, nil},
	}
	for _, tt := range tests {
		RemoveHopByHop(tt.in)
		if got := slices.Sorted(maps.Keys(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: RemoveHopByHop left %q, want %q", tt.name, got, tt.want)
		}
	}
}

// removeHopByHopEach is RemoveHopByHop as it was written before the one
// walk: a delete per hop-by-hop name.
func removeHopByHopEach(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	for _, k := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
}

// FuzzRemoveHopByHop: the one walk leaves what a delete per name leaves.
func FuzzRemoveHopByHop(f *testing.F) {
	f.Add("Keep-Alive", "Te, x-a", "X-A", "Upgrade")
	f.Add("Content-Type", "", "Trailer", "connection")
	f.Fuzz(func(t *testing.T, k1, conn, k2, k3 string) {
		h := http.Header{}
		for _, k := range []string{k1, k2, k3} {
			h[http.CanonicalHeaderKey(k)] = []string{"v"}
		}
		if conn != "" {
			h["Connection"] = []string{conn}
		}
		want := h.Clone()
		removeHopByHopEach(want)
		RemoveHopByHop(h)
		if got, w := slices.Sorted(maps.Keys(h)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
			t.Fatalf("RemoveHopByHop left %q, a delete per name leaves %q", got, w)
		}
	})
}
