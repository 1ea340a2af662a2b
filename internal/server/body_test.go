package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// cutBody gives data, then fails with err after canceling the request, as
// net/http's server does when the connection read under a body fails.
type cutBody struct {
	data   *strings.Reader
	err    error
	cancel context.CancelFunc
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.data.Len() > 0 {
		return b.data.Read(p)
	}
	if b.cancel != nil {
		b.cancel()
	}
	return 0, b.err
}

func (b *cutBody) Close() error { return nil }

// TestServeHTTPClientBodyFailures: the client's failed body is answered
// with the contract's JSON and Connection: close (400, 408), or, when the
// client is gone, with nothing at all: never the empty 200 net/http would
// send for a handler that wrote nothing.
func TestServeHTTPClientBodyFailures(t *testing.T) {
	t.Parallel()
	e := testkit.NewEcho(t, "app")
	s, err := New(Options{Config: parseConfig(t, gatewayConfig(e.URL, catchAll))})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		length int64
		err    error
		cancel bool
		status int // 0: aborted, nothing written
		code   string
	}{
		{"malformed chunked body", -1, errors.New("chunked line ends with bare LF"), false, 400, "bad_request"},
		{"short body", 10, io.ErrUnexpectedEOF, true, 400, "bad_request"},
		{"read timeout, direct path", 10, &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true, 408, "request_timeout"},
		{"read timeout, streamed", -1, &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true, 408, "request_timeout"},
		{"client gone", 10, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true, 0, ""},
		{"client gone, streamed", -1, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			body := &cutBody{data: strings.NewReader("abc"), err: tt.err}
			if tt.cancel {
				body.cancel = cancel
			}
			r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/orders", body)
			r.ContentLength = tt.length
			rec := httptest.NewRecorder()
			aborted := func() (aborted bool) {
				defer func() {
					if p := recover(); p != nil {
						if p != http.ErrAbortHandler {
							panic(p)
						}
						aborted = true
					}
				}()
				s.ServeHTTP(rec, r)
				return false
			}()
			if tt.status == 0 {
				if !aborted || rec.Body.Len() != 0 || rec.Code != 200 || rec.Flushed {
					t.Fatalf("aborted %v, wrote %d %q; want the connection aborted with nothing written", aborted, rec.Code, rec.Body)
				}
				return
			}
			if aborted || rec.Code != tt.status {
				t.Fatalf("status %d (aborted %v), want %d", rec.Code, aborted, tt.status)
			}
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error != tt.code {
				t.Fatalf("body %q (%v), want error %q", rec.Body, err, tt.code)
			}
			if rec.Header().Get("Connection") != "close" {
				t.Errorf("Connection = %q, want close", rec.Header().Get("Connection"))
			}
		})
	}
}
