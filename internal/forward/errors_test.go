package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	tests := []struct {
		name     string
		err      error
		canceled bool
		tooLarge bool
		want     int
	}{
		{"canceled wins", context.Canceled, true, false, 499},
		{"canceled over anything", errors.New("write: broken pipe"), true, true, 499},
		{"max bytes", &http.MaxBytesError{Limit: 10}, false, false, 413},
		{"max bytes seen by the body", errors.New("write error"), false, true, 413},
		{"deadline", context.DeadlineExceeded, false, false, 504},
		{"dial", refused, false, false, 502},
		{"dial refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, false, false, 502},
		{"dial timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, false, false, 502},
		{"response header timeout", timeoutErr{}, false, false, 504},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, false, false, 502},
		{"eof", io.ErrUnexpectedEOF, false, false, 502},
		{"malformed", errors.New(`malformed HTTP response "SSH-2.0"`), false, false, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Classify(tt.err, tt.canceled, tt.tooLarge)
			if got.Status != tt.want || got.Code != pipeline.CodeFor(tt.want) {
				t.Errorf("Classify(%v) = %d %s, want %d", tt.err, got.Status, got.Code, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("Classify(%v) lost the cause", tt.err)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestCause: the cause that labels an attempt without an answer agrees
// with Classify: a 504 is a timeout, a connect failure never is one (a
// connect timeout included, as Classify answers it 502).
func TestCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want upstream.Cause
	}{
		{"none", nil, upstream.CauseUnknown},
		{"deadline", context.DeadlineExceeded, upstream.CauseTimeout},
		{"dial refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, upstream.CauseConnect},
		{"dial timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, upstream.CauseConnect},
		{"tls handshake timeout", errors.New("net/http: TLS handshake timeout"), upstream.CauseConnect},
		{"tls alert from the upstream", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, upstream.CauseConnect},
		{"response header timeout", timeoutErr{}, upstream.CauseTimeout},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, upstream.CauseOther},
		{"malformed", errors.New(`malformed HTTP response "SSH-2.0"`), upstream.CauseOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Cause(tt.err); got != tt.want {
				t.Errorf("Cause(%v) = %v (%s), want %v (%s)", tt.err, got, got.Label(), tt.want, tt.want.Label())
			}
		})
	}
}

// TestClassifyRemoteTLSAlert: an alert the upstream sends (a TLS 1.3
// server refusing the client certificate after the client's handshake
// ended) is a failed TLS handshake, like a certificate the gateway
// refuses.
func TestClassifyRemoteTLSAlert(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("readLoopPeekFailLocked: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")})
	got := Classify(err, false, false)
	if got.Status != http.StatusBadGateway || got.Message != "TLS handshake with upstream failed" {
		t.Errorf("Classify(%v) = %d %q, want 502 %q", err, got.Status, got.Message, "TLS handshake with upstream failed")
	}
}
