package forward

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/internal/h1"
)

func TestNotSent(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dial error", dial, true},
		{"wrapped dial error", fmt.Errorf("round trip: %w", dial), true},
		{"h1 NotSentError", &h1.NotSentError{Err: syscall.EPIPE}, true},
		{"h1 NotSentError around a dial error", &h1.NotSentError{Err: dial}, true},
		{"read error", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
		{"write error", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, false},
		{"end of stream", io.EOF, false},
		{"unexpected end of stream", io.ErrUnexpectedEOF, false},
	}
	for _, tt := range tests {
		if got := NotSent(tt.err); got != tt.want {
			t.Errorf("NotSent(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRetryableWhenNotSent: a request of which nothing was written may go
// elsewhere whatever failed it, so an idempotent one is never retried less
// than one that is not (which retries on NotSent alone).
func TestRetryableWhenNotSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"h1 NotSentError around a broken pipe", &h1.NotSentError{Err: syscall.EPIPE}, true},
		{"h1 NotSentError around a write timeout", &h1.NotSentError{Err: os.ErrDeadlineExceeded}, true},
		{"broken pipe after sending", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, false},
		{"timeout after sending", os.ErrDeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRetryStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want bool
	}{
		{200, false}, {404, false}, {500, false}, {501, false},
		{502, true}, {503, true}, {504, true}, {505, false},
	}
	for _, tt := range tests {
		if got := RetryStatus(tt.code); got != tt.want {
			t.Errorf("RetryStatus(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		want   bool
	}{
		{"GET", true}, {"HEAD", true}, {"OPTIONS", true}, {"PUT", true}, {"DELETE", true},
		{"POST", false}, {"PATCH", false}, {"TRACE", false}, {"CONNECT", false}, {"get", false},
	}
	for _, tt := range tests {
		if got := Idempotent(tt.method); got != tt.want {
			t.Errorf("Idempotent(%q) = %v, want %v", tt.method, got, tt.want)
		}
	}
}
