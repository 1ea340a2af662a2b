package proxy

import (
	"net/http"
	"slices"
	"testing"
)

// codeRecorder records every status written.
type codeRecorder struct {
	http.ResponseWriter
	h     http.Header
	codes []int
}

func (c *codeRecorder) Header() http.Header  { return c.h }
func (c *codeRecorder) WriteHeader(code int) { c.codes = append(c.codes, code) }

// TestResponseWriterInformational: 1xx answers reach HTTP/1.1 and HTTP/2
// clients and never an HTTP/1.0 one (RFC 9110 §15.2), which would take
// the 103 for the final answer and the real answer for its body.
func TestResponseWriterInformational(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		http10 bool
		write  []int
		want   []int
	}{
		{"HTTP/1.1: 103 then 200", false, []int{103, 200}, []int{103, 200}},
		{"HTTP/1.1: 100 then 200", false, []int{100, 200}, []int{100, 200}},
		{"HTTP/1.0: 103 then 200", true, []int{103, 200}, []int{200}},
		{"HTTP/1.0: 100, 103 then 204", true, []int{100, 103, 204}, []int{204}},
		{"HTTP/1.0: 101 is a final answer", true, []int{101}, []int{101}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &codeRecorder{h: http.Header{}}
			w := &responseWriter{ResponseWriter: rec, http10: tt.http10}
			for _, c := range tt.write {
				w.WriteHeader(c)
			}
			if !slices.Equal(rec.codes, tt.want) {
				t.Errorf("client got %v, want %v", rec.codes, tt.want)
			}
			if !w.started {
				t.Error("the final answer did not start the response")
			}
		})
	}
}
