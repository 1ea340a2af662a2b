package aggregate

import (
	"context"
	"net/http"

	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/upstream"
	"go.opentelemetry.io/otel/trace"
)

// When no call of an aggregate needs another's answer, the request's own
// goroutine makes the calls that go through the gateway's HTTP/1.1 client
// (call.batch): it writes every request first, then reads the answers one
// after another, in the calls' order. Handing each call to a worker and
// waiting for its outcome costs a wake-up and a hand-off both ways per
// call, more than the rest of what a call adds; here the answers that
// came while an earlier one was read are read without waiting at all.
//
// Reading in order must not let a slow answer hold up one that ends the
// request (a required call's failure calls the others off at once). So
// the answer being read carries h1.Pending.Slow: when it has not come
// within the client's short window (100 ms), or at once over TLS, the
// calls after it go to workers, which read their answers and report them
// as any worker call does, and the window's end starts the watch of the
// request's context, so a failure among them aborts the slow read. A
// request the gateway's own client does not take (h1 refuses it) goes to
// a worker when it is found.

// batchCall is one call the request's goroutine sends itself: its request
// out (or why not), its answer to read.
type batchCall struct {
	c *call
	i int // the call's index
	// ctx is the call's: its span, its own timeout (cancel).
	ctx    context.Context
	cancel context.CancelFunc
	sp     trace.Span
	ob     outbound
	at     upstream.Attempts
	out    h1.Outbound
	p      h1.Pending
	rq     request
	req    *http.Request
	// pre is the call's failure before any attempt began; serr the
	// failure of the first attempt's send. sent says p holds the request
	// written; away that a worker lands the batchCall.
	pre, serr  error
	sent, away bool
	// raw holds the first attempt's answer, when the call is raw; the
	// merge reads it from here. ans is the room the HTTP/1.1 client reads
	// that attempt's answer into (h1.Outbound.Room).
	raw rawSlot
	ans h1.Answer
}

// fly makes the batch calls: it sends them all, then lands them in order,
// each outcome given to landed on this goroutine, except those it hands to
// workers (rn.away counts them), which run landAway(k) and report on
// their own.
func (rn *run) fly() {
	h := rn.h
	// Filled in place: a batchCall is large, and a literal of it would be
	// built and copied.
	rn.batch = make([]batchCall, h.batched)
	rn.paths.Grow(pathRoom * h.batched)
	k := 0
	for i, c := range h.calls {
		if c.batch {
			rn.batch[k].c, rn.batch[k].i = c, i
			k++
		}
	}
	// One look at the clock for all the launches, which take
	// microseconds: an aggregate that has ended launches none.
	ended := rn.ctx.Err() != nil
	for k := range rn.batch {
		f := &rn.batch[k]
		rn.state[f.i] = running
		if ended {
			f.pre = rn.stopped(f.c, rn.ctx)
		} else {
			rn.launch(f)
		}
		if f.away {
			rn.handAway(k)
		}
	}
	rn.end = len(rn.batch)
	var slow func()
	for k := 0; k < rn.end; k++ {
		f := &rn.batch[k]
		if f.away {
			continue
		}
		rn.cur = k
		if f.sent && rn.later(k) {
			if slow == nil {
				// The calls after the one being read go to workers.
				slow = func() {
					for j := rn.cur + 1; j < rn.end; j++ {
						if !rn.batch[j].away {
							rn.handAway(j)
						}
					}
					rn.end = rn.cur + 1
				}
			}
			f.p.Slow = slow
		}
		// Ended (called off, the client gone): the answer is not read.
		// A deadline that passed unseen needs no look at the clock
		// here: the connection's own deadline is no later, and ends a
		// read that would wait.
		v, err := rn.land(f, rn.dl.ended())
		rn.landed(outcome{f.i, v, err})
	}
}

// handAway gives batch call k to a worker, which lands it and reports its
// outcome on rn.done. The channel is made here (outcomes), on the
// request's goroutine, before any worker could send on it.
func (rn *run) handAway(k int) {
	rn.batch[k].away = true
	rn.away++
	rn.outcomes()
	workers.GoWith((*run).landAway, rn, k)
}

// landAway lands batch call k on a worker and reports it.
func (rn *run) landAway(k int) {
	f := &rn.batch[k]
	v, err := rn.land(f, false)
	rn.report(outcome{f.i, v, err})
}

// pathRoom is the room made per batch call for its path: enough for most,
// and a longer one grows the builder.
const pathRoom = 64

// later reports whether a batchCall after k, before rn.end, is still
// this goroutine's to land.
func (rn *run) later(k int) bool {
	for j := k + 1; j < rn.end; j++ {
		if !rn.batch[j].away {
			return true
		}
	}
	return false
}

// launch begins f's call as exec would (the aggregate not ended), and sends its first attempt's
// request without reading the answer; a request h1 does not take is left
// for a worker (away).
func (rn *run) launch(f *batchCall) {
	c := f.c
	f.ctx, f.sp = startCall(rn.ctx, c)
	e := env{params: rn.params, results: rn.results, elem: -1}
	if err := rn.build(c, &e, &f.ob, &rn.paths); err != nil {
		f.pre = &callError{call: c.name, reason: err.Error(), err: err}
		return
	}
	at, err := c.pool.Attempts(rn.in)
	if err != nil {
		f.pre = noTarget(c, err)
		return
	}
	f.at = at
	f.at.AllowRetries(c.retries)
	if c.timeout > 0 {
		f.ctx, f.cancel = context.WithTimeout(f.ctx, c.timeout)
	}
	rn.attempts.Add(1)
	f.req, _ = prepare(f.ctx, c, &f.at, &f.ob, &f.out, &f.rq)
	f.out.Room = &f.ans
	ok, err := c.tr.Start(f.ctx, f.req, &f.out, &f.p)
	f.sent, f.serr, f.away = ok && err == nil, err, !ok
}

// land reads f's answer (or, with drop, gives it up: the request was
// called off) and makes the call's further attempts as fetch would; it
// returns the call's value or failure as exec does.
func (rn *run) land(f *batchCall, drop bool) (any, error) {
	c := f.c
	if f.pre != nil {
		if f.sp != nil {
			endCall(f.sp, f.pre)
		}
		return nil, f.pre
	}
	var res *http.Response
	var err error
	switch {
	case drop:
		if f.sent {
			f.p.Close()
		}
		err = rn.ctx.Err()
	case f.sent:
		res, err = f.p.Finish(nil)
	case f.serr != nil:
		err = f.serr
	default:
		res, err = c.tr.Send(f.ctx, f.req, &f.out)
	}
	v, _, _, again, err := rn.answer(f.ctx, c, &f.at, res, err, &f.out, &f.raw)
	if err != nil && again && f.ctx.Err() == nil && f.at.Next() != nil {
		v, _, _, err = rn.tryTargets(f.ctx, c, &f.at, &f.ob)
	}
	if f.cancel != nil {
		f.cancel()
	}
	if f.sp != nil {
		endCall(f.sp, err)
	}
	if err != nil {
		return nil, asCallError(c, err)
	}
	return v, nil
}
