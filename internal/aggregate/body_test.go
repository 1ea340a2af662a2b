package aggregate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"unsafe"

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

// A batch call's raw answer is kept in its rawSlot: in the slot's buffer
// when it fits with its announced length, in a buffer of its own when it
// does not or when its length is not announced. Either way the bytes are
// the answer's, trimmed, and the merge writes them as they are.
func TestDecodeIntoRawSlot(t *testing.T) {
	small := `{"id":42,"tags":["a","b"]}`
	large := `{"pad":"` + strings.Repeat("x", rawSlotSize) + `"}`
	tests := []struct {
		name    string
		body    string
		length  int64
		inPlace bool
	}{
		{"small, announced", small, int64(len(small)), true},
		{"small, with white space", "  " + small + "\n", int64(len(small) + 3), true},
		{"exactly the slot", `"` + strings.Repeat("y", rawSlotSize-3) + `"`, rawSlotSize - 1, true},
		{"small, length not announced", small, -1, false},
		{"larger than the slot", large, int64(len(large)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var slot rawSlot
			v, n, err := decode(strings.NewReader(tt.body), true, 1<<20, tt.length, &slot)
			if err != nil {
				t.Fatal(err)
			}
			msg, ok := v.(*json.RawMessage)
			if !ok || msg != &slot.msg {
				t.Fatalf("value is %T, want a pointer to the slot's message", v)
			}
			want := strings.TrimSpace(tt.body)
			if string(*msg) != want || n != int64(len(want)) {
				t.Errorf("answer = %q (%d bytes), want %q", *msg, n, want)
			}
			at, lo := uintptr(unsafe.Pointer(unsafe.SliceData(*msg))), uintptr(unsafe.Pointer(&slot.buf[0]))
			inPlace := at >= lo && at < lo+rawSlotSize
			if inPlace != tt.inPlace {
				t.Errorf("kept in the slot's buffer: %v, want %v", inPlace, tt.inPlace)
			}
			if got := string(appendJSON(nil, v)); got != want {
				t.Errorf("merged as %q, want %q", got, want)
			}
		})
	}
	if _, _, err := decode(strings.NewReader(`{"a":`), true, 1<<20, 5, new(rawSlot)); err != errNotJSON {
		t.Errorf("a broken answer in a slot: err = %v, want errNotJSON", err)
	}
}

// TestIsJSON: the answers an aggregate takes are application/json and the
// +json types, in any case, with parameters and white space around the
// type; the exact "application/json" is only the common case of that rule.
func TestIsJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ct   string
		want bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON", true},
		{" application/json ", true},
		{"application/problem+json", true},
		{"application/vnd.api+JSON;v=1", true},
		{"", false},
		{"application/jsonx", false},
		{"application/json5", false},
		{"text/plain", false},
		{"+json", false},
		{"x+json", false},
		{"application/jso", false},
		{"text/html; a=application/json", false},
	} {
		if got := isJSON(tc.ct); got != tc.want {
			t.Errorf("isJSON(%q) = %v, want %v", tc.ct, got, tc.want)
		}
	}
}
