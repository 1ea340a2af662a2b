package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestFinishRecordsOutcome checks what the server records in the Exchange
// (the one writer of Status and Err) and whether it meters the request as
// admitted, for each way a terminal can end a request: by what it wrote and
// the error it returned.
func TestFinishRecordsOutcome(t *testing.T) {
	t.Parallel()
	s := newServer(t, gatewayConfig("http://127.0.0.1:1", catchAll))
	gateway := pipeline.Errorf(http.StatusBadGateway, pipeline.CodeBadGateway, "upstream refused the connection")
	gone := &pipeline.HTTPError{Status: pipeline.StatusClientClosed, Code: pipeline.CodeClientClosed, Message: "client closed the request", Err: errors.New("context canceled")}
	brokenPipe := fmt.Errorf("write tcp 127.0.0.1:8080->127.0.0.1:50123: %w", syscall.EPIPE)
	cut := fmt.Errorf("%w: %w", http.ErrAbortHandler, io.ErrUnexpectedEOF)
	tooLarge := forward.ClassifyBody(&pipeline.BodyError{Err: &http.MaxBytesError{Limit: 10}}, false)
	declaredTooLarge := &pipeline.HTTPError{Status: http.StatusRequestEntityTooLarge, Code: pipeline.CodeBodyTooLarge, Message: "request body is larger than 10 bytes", Close: true}
	partial := func(status int, err error) func(http.ResponseWriter) error {
		return func(w http.ResponseWriter) error {
			w.WriteHeader(status)
			io.WriteString(w, "partial")
			return err
		}
	}
	tests := []struct {
		name     string
		terminal func(http.ResponseWriter) error
		// wantStatus and wantErr are recorded in the Exchange (wantErr is
		// the access log's error text); wantSent is what the client got (0
		// for nothing), aborted whether the connection was aborted.
		wantStatus  int
		wantErr     string
		wantSent    int
		wantAborted bool
		wantMetered bool
	}{
		{name: "relayed", terminal: partial(http.StatusCreated, nil),
			wantStatus: 201, wantSent: 201, wantMetered: true},
		{name: "relayed upstream error", terminal: partial(http.StatusInternalServerError, nil),
			wantStatus: 500, wantSent: 500, wantMetered: true},
		{name: "nothing written", terminal: func(http.ResponseWriter) error { return nil },
			wantStatus: 200, wantMetered: true},
		{name: "gateway error", terminal: func(http.ResponseWriter) error { return gateway },
			wantStatus: 502, wantErr: "upstream refused the connection", wantSent: 502, wantMetered: true},
		{name: "error that is no HTTPError", terminal: func(http.ResponseWriter) error { return errors.New("building the event failed") },
			wantStatus: 500, wantErr: "building the event failed", wantSent: 500, wantMetered: true},
		{name: "499 before the answer started", terminal: func(http.ResponseWriter) error { return gone },
			wantStatus: 499, wantErr: "client closed the request: context canceled", wantAborted: true, wantMetered: true},
		{name: "499 after the answer started", terminal: partial(http.StatusOK, &pipeline.AbortedError{Status: pipeline.StatusClientClosed, Err: brokenPipe}),
			wantStatus: 499, wantErr: brokenPipe.Error(), wantSent: 200, wantMetered: true},
		{name: "499 after the answer started, proxy", terminal: partial(http.StatusOK, &pipeline.AbortedError{Status: pipeline.StatusClientClosed, Err: fmt.Errorf("%w: %w", http.ErrAbortHandler, brokenPipe)}),
			wantStatus: 499, wantErr: "net/http: abort Handler: " + brokenPipe.Error(), wantSent: 200, wantMetered: true},
		{name: "upstream cut after the answer started", terminal: partial(http.StatusOK, cut),
			wantStatus: 200, wantErr: "net/http: abort Handler: unexpected EOF", wantSent: 200, wantAborted: true, wantMetered: true},
		{name: "body over the limit while it streamed", terminal: func(http.ResponseWriter) error { return tooLarge },
			wantStatus: 413, wantErr: tooLarge.Error(), wantSent: 413},
		{name: "declared body over the limit", terminal: func(http.ResponseWriter) error { return declaredTooLarge },
			wantStatus: 413, wantErr: "request body is larger than 10 bytes", wantSent: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			w := &responseWriter{ResponseWriter: rec}
			r := httptest.NewRequest("GET", "/orders", nil)
			// The admit step ran: the request reached its terminal.
			x := &pipeline.Exchange{ID: "req-1", Admitted: true}
			err := tt.terminal(w)
			aborted := func() (aborted bool) {
				defer func() {
					if p := recover(); p != nil {
						if p != http.ErrAbortHandler {
							panic(p)
						}
						aborted = true
					}
				}()
				s.finish(w, r, x, nil, err, false)
				return false
			}()
			var gotErr string
			if x.Err != nil {
				gotErr = x.Err.Error()
			}
			if x.Status != tt.wantStatus || gotErr != tt.wantErr {
				t.Errorf("Exchange = %d %q, want %d %q", x.Status, gotErr, tt.wantStatus, tt.wantErr)
			}
			if x.Err != err {
				t.Errorf("Exchange.Err = %v, want the returned error %v", x.Err, err)
			}
			if rec.Code != tt.wantSent {
				t.Errorf("sent %d, want %d", rec.Code, tt.wantSent)
			}
			if aborted != tt.wantAborted {
				t.Errorf("aborted = %v, want %v", aborted, tt.wantAborted)
			}
			if !x.Admitted {
				t.Error("Exchange.Admitted was cleared; only the admit step writes it")
			}
			if got := metered(x, err); got != tt.wantMetered {
				t.Errorf("metered() = %v, want %v", got, tt.wantMetered)
			}
		})
	}
}

// newRecorder returns a recorder whose Code stays 0 until a status is
// written, so a test can tell "nothing sent" from 200.
func newRecorder() *httptest.ResponseRecorder {
	//lint:ignore SA1019 NewRecorder's Code starts at 200; this one must start at 0
	return &httptest.ResponseRecorder{HeaderMap: make(http.Header), Body: new(bytes.Buffer)}
}
