package pipeline

import (
	"errors"
	"net/http"
)

// AbortedError reports an answer that had started and could not be
// completed, when the status to record is not the one the client was sent:
// the client went away mid-answer (StatusClientClosed). A terminal returns
// it instead of writing the Exchange; the server records Status and the
// error (see Outcome). It wraps http.ErrAbortHandler, as every error
// returned after the answer started does: what the client got is not the
// whole answer. (The server aborts such a connection unless the client is
// already gone.)
type AbortedError struct {
	// Status is the status to record; 0 records the one the client was
	// sent.
	Status int
	// Err is the cause, whose text the access log shows.
	Err error
}

// Error returns the cause's text.
func (e *AbortedError) Error() string { return e.Err.Error() }

// Unwrap returns http.ErrAbortHandler and the cause.
func (e *AbortedError) Unwrap() []error { return []error{http.ErrAbortHandler, e.Err} }

// Outcome returns the status and error to record for a request whose
// handler chain returned err, when the client was sent the status sent (0
// when no final status was sent). It is the one rule for Exchange.Status
// and Exchange.Err:
//   - nil: the status sent, 200 when the handler wrote nothing (net/http
//     answers 200);
//   - an *AbortedError with a Status: that status;
//   - an *HTTPError of StatusClientClosed: 499, nothing sent;
//   - any other error before anything was sent: the status the server
//     renders for it (the HTTPError's, or 500);
//   - any other error after the answer started: the status sent (the
//     connection is aborted).
//
// The error recorded is err itself.
func Outcome(sent int, err error) (int, error) {
	if err == nil {
		if sent == 0 {
			return http.StatusOK, nil
		}
		return sent, nil
	}
	if ae, ok := errors.AsType[*AbortedError](err); ok && ae.Status != 0 {
		return ae.Status, err
	}
	he, ok := errors.AsType[*HTTPError](err)
	switch {
	case ok && (he.Status == StatusClientClosed || sent == 0):
		return he.Status, err
	case sent == 0:
		return http.StatusInternalServerError, err
	}
	return sent, err
}
