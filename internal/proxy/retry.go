package proxy

import (
	"context"
	"errors"
	"net/http"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/wire"
)

// MaxReplayBody is the largest request body kept in memory so that a retry
// can send it again. A larger body is streamed and its request is not
// retried.
const MaxReplayBody = 64 << 10

// errRetry is what modifyResponse returns for a 502/503/504 answer that
// will be retried: ReverseProxy then discards the response unsent.
var errRetry = errors.New("upstream answer discarded for a retry")

// retryable reports whether r may get more than one attempt: the upstream
// has retries, the method is idempotent (RFC 9110, section 9.2.2: GET,
// HEAD, OPTIONS, PUT, DELETE; TRACE is never proxied on purpose) or the
// route opted in with retry_non_idempotent, and the request is not a
// protocol upgrade, whose connection cannot be replayed.
func (h *handler) retryable(r *http.Request) bool {
	if h.retries == 0 || wire.First(r.Header, "Upgrade") != "" {
		return false
	}
	return h.retryAny || forward.Idempotent(r.Method)
}

// retryAfterError reports whether a's transport failure may be retried: the
// request never got an answer, nothing went to the client, the client is
// still there, and the failure is a connect error or a connection the
// upstream closed or reset before answering. Response timeouts are not
// retried: the upstream may still be working on the request, and each retry
// would add a full timeout to the client's wait.
func (h *handler) retryAfterError(a *attempt) bool {
	if a.err == nil || errors.Is(a.err, errRetry) || a.w.started || a.in.Context().Err() != nil ||
		a.body.failed.Load() != nil {
		return false
	}
	if a.unsentOnly {
		return forward.NotSent(a.err)
	}
	return forward.Retryable(a.err)
}

// nextTarget picks the target of a's retry, nil when there is none: the
// request may not go again (method, body, retries used up), no untried
// healthy target is left, the client is gone, or the upstream's retry
// budget is spent.
func (h *handler) nextTarget(a *attempt) *upstream.Target {
	if a.in.Context().Err() != nil {
		return nil
	}
	return a.at.Next()
}

// report ends a finished attempt and feeds it back to its target: latency,
// status and whether it counts as a failure for passive ejection, by the
// rule aggregate calls share (upstream.Classify). A failed client body
// (malformed, cut, late, too large) says nothing about the target, whatever
// it made of it; nor does a client that went away or sent too much, unless
// the target answered 5xx first.
func (h *handler) report(a *attempt) {
	if a.status == 0 {
		a.at.Failed(forward.Cause(a.err))
	}
	a.at.Done(a.status, upstream.Classify(a.status,
		a.body.failed.Load() != nil,
		errors.Is(a.in.Context().Err(), context.Canceled) || a.body.tooLarge.Load(),
		a.status == 0 && a.err != nil || a.res.err != nil))
}
