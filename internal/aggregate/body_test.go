package aggregate

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestClientBodyFailure: a request body the client fails to deliver is the
// client's error on an aggregate route too. It is read before any call is
// made, and its failure answers 400, 408 or 413 with no call sent, never a
// 200 merged from calls made for a request the gateway could not read.
func TestClientBodyFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   func(w http.ResponseWriter) io.ReadCloser
		status int // 0: the calls run and the answer is 200
	}{
		{"broken chunked framing", func(http.ResponseWriter) io.ReadCloser {
			return io.NopCloser(iotest.ErrReader(errors.New("malformed chunked encoding")))
		}, http.StatusBadRequest},
		{"shorter than its Content-Length", func(http.ResponseWriter) io.ReadCloser {
			return io.NopCloser(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)))
		}, http.StatusBadRequest},
		{"cut by read_timeout", func(http.ResponseWriter) io.ReadCloser {
			return io.NopCloser(iotest.ErrReader(os.ErrDeadlineExceeded))
		}, http.StatusRequestTimeout},
		{"over the body limit", func(w http.ResponseWriter) io.ReadCloser {
			return http.MaxBytesReader(w, io.NopCloser(strings.NewReader(strings.Repeat("a", 100))), 10)
		}, http.StatusRequestEntityTooLarge},
		{"a whole body (control)", func(http.ResponseWriter) io.ReadCloser {
			return io.NopCloser(strings.NewReader(`{"a":1}`))
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sent atomic.Int32
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				sent.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"id":"1"}`))
			})
			s := setup{upstreams: map[string][]string{"users": {up.URL}}}
			h, _ := s.build(t, calls(&config.AggregateCall{Name: "user", Upstream: "users", Path: "/u"}))
			x := params("1")
			x.ID = "req-body"
			//lint:ignore SA1019 a recorder built by hand keeps Code 0 until a status is written
			rec := &httptest.ResponseRecorder{HeaderMap: make(http.Header), Body: new(bytes.Buffer)}
			r := httptest.NewRequest(http.MethodPost, "/dashboard/1", nil)
			r.Body = tt.body(rec)
			err := h.ServeHTTP(rec, r.WithContext(pipeline.WithExchange(r.Context(), x)))
			if tt.status == 0 {
				if err != nil || rec.Code != http.StatusOK || sent.Load() != 1 {
					t.Fatalf("err %v, status %d, %d calls; want 200 after 1 call", err, rec.Code, sent.Load())
				}
				return
			}
			he := httpError(t, err)
			if he.Status != tt.status || !he.Close {
				t.Errorf("answer %d (close %v), want %d and close", he.Status, he.Close, tt.status)
			}
			if n := sent.Load(); n != 0 {
				t.Errorf("%d calls made for a request whose body failed", n)
			}
		})
	}
}
