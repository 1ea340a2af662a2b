package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// clientBodyError stands for the proxy's typed body error.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "client body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// brokenBody gives data, then fails with err.
type brokenBody struct {
	data *strings.Reader
	err  error
}

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.data.Len() > 0 {
		return b.data.Read(p)
	}
	return 0, b.err
}

func (b *brokenBody) Close() error { return nil }

// TestBodyReadErrorKeepsItsType: a failure reading the request body comes
// back as it was, so the caller can tell its client's failure from the
// upstream's, and the upstream never receives a complete request.
func TestBodyReadErrorKeepsItsType(t *testing.T) {
	tests := []struct {
		name string
		data string
		err  error
	}{
		{"before any byte", "", &clientBodyError{io.ErrUnexpectedEOF}},
		{"after part of the body", "abc", &clientBodyError{errors.New("chunked line ends with bare LF")}},
		{"after a buffer's worth", strings.Repeat("a", 10<<10), &clientBodyError{io.ErrUnexpectedEOF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var complete atomic.Int32
			srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.ReadAll(r.Body); err == nil {
					complete.Add(1)
				}
			})
			tr := newTransport(t, nil)
			req := newRequest(t, "POST", srv.URL, "")
			req.Body, req.ContentLength = &brokenBody{strings.NewReader(tt.data), tt.err}, 20<<10
			_, err := tr.Send(context.Background(), req, nil)
			var be *clientBodyError
			if !errors.As(err, &be) {
				t.Fatalf("Send() = %v, want the body's error", err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) && staleConn(err) && replayable(req) {
				t.Fatal("a failed body would be sent again")
			}
			srv.waitClosed(t, 1)
			if n := complete.Load(); n != 0 {
				t.Fatalf("upstream got %d complete requests", n)
			}
			if n := tr.IdleConns(); n != 0 {
				t.Fatalf("IdleConns() = %d, want the connection closed", n)
			}
		})
	}
}
