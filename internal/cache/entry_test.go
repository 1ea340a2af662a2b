package cache

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    *Entry
	}{
		{"answer", &Entry{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Etag": {`"v1"`}, "X-Multi": {"a", "b"}},
			Body: []byte(`{"items":[1,2,3]}`), Stored: time.Unix(1700000000, 123), InitialAge: 2 * time.Second, Lifetime: time.Minute,
			Stale: 10 * time.Second, MustRevalidate: true, Vary: []string{"Accept-Language"}, Route: "catalog", Path: "/catalog/items"}},
		{"empty body", &Entry{Status: 204, Header: http.Header{}, Stored: time.Unix(0, 1)}},
		{"vary record", &Entry{Vary: []string{"Accept", "Accept-Encoding"}, Route: "catalog", Path: "/catalog", Stored: time.Unix(0, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Unmarshal(tt.e.Marshal())
			if err != nil {
				t.Fatalf("Unmarshal(Marshal()) error: %v", err)
			}
			if diff := cmp.Diff(tt.e, got); diff != "" {
				t.Errorf("Unmarshal(Marshal()) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnmarshalRefusesCorrupt(t *testing.T) {
	t.Parallel()
	good := (&Entry{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("body"), Stored: time.Unix(5, 0)}).Marshal()
	for _, b := range [][]byte{nil, {}, {2}, good[:len(good)-1], append(bytes.Clone(good), 0)} {
		if _, err := Unmarshal(b); err == nil {
			t.Errorf("Unmarshal(%q) = nil error, want errCorrupt", b)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add((&Entry{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("body"), Stored: time.Unix(5, 0)}).Marshal())
	f.Add((&Entry{Vary: []string{"Accept"}}).Marshal())
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Unmarshal(b)
		if err != nil {
			return
		}
		// What decodes encodes back to the same entry.
		again, err := Unmarshal(e.Marshal())
		if err != nil {
			t.Fatalf("re-decoding %q: %v", b, err)
		}
		if !cmp.Equal(e, again) {
			t.Fatalf("round trip of %q changed the entry:\n%s", b, cmp.Diff(e, again))
		}
	})
}
