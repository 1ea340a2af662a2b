package keyauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestExtractAuthorization: with auth.api_key.header Authorization, a key
// may come as "Bearer <key>" or bare; a bearer value shaped like a JWT is a
// token for the jwt methods, left in place and not presented as a key.
func TestExtractAuthorization(t *testing.T) {
	t.Parallel()
	const jwtLike = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."
	tests := []struct {
		name     string
		header   string // the extractor's header
		values   []string
		wantKey  string
		present  bool
		wantLeft bool // Authorization still in the request
	}{
		{name: "bearer key", header: "Authorization", values: []string{"Bearer " + testKey}, wantKey: testKey, present: true},
		{name: "bearer scheme any case", header: "Authorization", values: []string{"bEaReR  " + testKey}, wantKey: testKey, present: true},
		{name: "bare key", header: "Authorization", values: []string{testKey}, wantKey: testKey, present: true},
		{name: "a JWT is not a key", header: "Authorization", values: []string{"Bearer " + jwtLike}, wantLeft: true},
		{name: "a signed JWT is not a key", header: "Authorization", values: []string{"Bearer a.b.c"}, wantLeft: true},
		{name: "bearer key after a tab", header: "Authorization", values: []string{"Bearer\t" + testKey}, wantKey: testKey, present: true},
		{name: "a JWT after a tab is not a key", header: "Authorization", values: []string{"Bearer\ta.b.c"}, wantLeft: true},
		{name: "bearer without value", header: "Authorization", values: []string{"Bearer "}},
		{name: "other header: Authorization untouched", header: "X-Api-Key", values: []string{"Bearer " + testKey}, wantLeft: true},
		{name: "other header: Bearer is part of the key", header: "X-Api-Key", values: []string{"Bearer " + testKey}, wantKey: "Bearer " + testKey, present: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := extractor{header: tt.header}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.values {
				if tt.name == "other header: Bearer is part of the key" {
					r.Header.Add("X-Api-Key", v)
					continue
				}
				r.Header.Add("Authorization", v)
			}
			key, present, err := x.extract(r)
			if err != nil {
				t.Fatalf("extract() error = %v", err)
			}
			if key != tt.wantKey || present != tt.present {
				t.Errorf("extract() = %q, %v; want %q, %v", key, present, tt.wantKey, tt.present)
			}
			if _, left := r.Header["Authorization"]; left != tt.wantLeft {
				t.Errorf("Authorization left in the request = %v, want %v", left, tt.wantLeft)
			}
		})
	}
}
