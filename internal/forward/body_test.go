package forward

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Failures net/http and the HTTP/2 server give for a client's body.
var (
	errBareLF  = errors.New("chunked line ends with bare LF")
	errTimeout = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	errReset   = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	errH2Short = errors.New("request declared a Content-Length of 10 but only wrote 3 bytes")
)

func TestClassifyBody(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		canceled bool
		status   int
	}{
		{"chunked framing refused", errBareLF, false, 400},
		{"chunked framing refused, then gone", errBareLF, true, 499},
		{"line too long", errors.New("header line too long"), false, 400},
		{"too much non-data", errors.New("chunked encoding contains too much non-data"), false, 400},
		{"body cut by EOF", io.ErrUnexpectedEOF, true, 400},
		{"body cut by EOF, wrapped", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), false, 400},
		{"HTTP/2 content-length mismatch", errH2Short, false, 400},
		{"read timeout", errTimeout, true, 408},
		{"read timeout, deadline error", os.ErrDeadlineExceeded, false, 408},
		{"connection reset", errReset, true, 499},
		{"HTTP/2 stream canceled", errors.New("client disconnected"), true, 499},
		{"over the limit", &http.MaxBytesError{Limit: 1}, false, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			he := ClassifyBody(AsBodyError(tt.err), tt.canceled)
			if he.Status != tt.status || he.Code != pipeline.CodeFor(tt.status) {
				t.Fatalf("ClassifyBody() = %d %s, want %d", he.Status, he.Code, tt.status)
			}
			if strings.Contains(he.Message, tt.err.Error()) {
				t.Errorf("message %q repeats the parser's words", he.Message)
			}
			var be *pipeline.BodyError
			if !errors.As(he, &be) || !errors.Is(he, tt.err) {
				t.Errorf("ClassifyBody() = %v, want the body error and its cause wrapped", he)
			}
		})
	}
}

// TestBodyErrorNotRetryable: a body error is never a reason to try another
// target, even when its cause looks like a dropped connection.
func TestBodyErrorNotRetryable(t *testing.T) {
	for _, err := range []error{io.ErrUnexpectedEOF, io.EOF, syscall.ECONNRESET, errBareLF} {
		if !Retryable(err) && err != errBareLF {
			t.Fatalf("Retryable(%v) = false, want true without the wrapper", err)
		}
		if Retryable(&pipeline.BodyError{Err: err}) {
			t.Errorf("Retryable(BodyError{%v}) = true, want false", err)
		}
		if Retryable(fmt.Errorf("net/http: %w", &pipeline.BodyError{Err: err})) {
			t.Errorf("Retryable(wrapped BodyError{%v}) = true, want false", err)
		}
	}
}
