package keyauth

import (
	"context"
	"crypto/sha256"
	"sync/atomic"
	"time"
)

const (
	// changeBatch is how many changes one poll reads; a full batch is
	// followed at once by the next, so a backlog drains without waiting.
	changeBatch = 1000
	// pollTimeout bounds one read of the change feed.
	pollTimeout = 5 * time.Second
)

// Change kinds, as store.Change documents them.
const (
	kindKey      = "key"
	kindConsumer = "consumer"
)

// run polls the change feed until the Authenticator closes, and sweeps
// expired negative answers out of the cache.
//
// The first poll starts at Seq 0 and replays the feed, which costs one read
// per thousand changes at start and keeps nothing stale: changes made while
// the node was down cannot concern a cache that was empty.
func (a *Authenticator) run() {
	defer a.wg.Done()
	t := time.NewTicker(a.poll)
	defer t.Stop()
	sweepEvery := max(a.negTTL, int64(time.Second))
	nextSweep := a.now().UnixNano() + sweepEvery
	for {
		a.pollChanges()
		if now := a.now().UnixNano(); now >= nextSweep {
			a.cache.sweep(now)
			nextSweep = now + sweepEvery
		}
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollChanges reads the feed from the cursor until it is caught up, and
// evicts what changed.
func (a *Authenticator) pollChanges() {
	for a.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(a.ctx, pollTimeout)
		changes, newest, err := a.st.Changes(ctx, a.cursor, changeBatch)
		cancel()
		if err != nil {
			if a.ctx.Err() == nil && a.feedErr.ok(a.now().UnixNano()) {
				a.log.Warn("reading the api key change feed failed; revocations wait until it works again", "error", err)
			}
			return
		}
		for i := range changes {
			a.apply(changes[i].Kind, changes[i].ConsumerID, changes[i].KeyHash)
		}
		next := a.cursor
		if n := len(changes); n > 0 {
			next = max(next, changes[n-1].Seq)
		}
		if len(changes) < changeBatch {
			// Caught up: newest is the feed's head. A head behind the
			// cursor means the feed was reset (database recreated or
			// restored); nothing cached can be trusted against it.
			if newest > 0 && newest < a.cursor {
				// Logged first: the line then precedes the keys refused.
				a.log.Warn("api key change feed went backwards; cache cleared", "seq", newest)
				a.cache.clear()
				a.cursor = newest
				return
			}
			a.cursor = max(next, newest)
			a.caughtUp.Do(func() { close(a.synced) })
			return
		}
		// A full batch: trust only the Seqs seen, in case newest names the
		// head rather than the end of this batch.
		a.cursor = next
	}
}

// apply evicts what one change may have made stale. A key change (created,
// revoked, deleted) drops that hash, including a negative answer, so a key
// created on another node works here at once. A consumer change drops
// every key of the consumer.
func (a *Authenticator) apply(kind, consumerID string, keyHash []byte) {
	hashOK := len(keyHash) == sha256.Size
	switch {
	case kind == kindKey && hashOK:
		a.cache.forget((*digest)(keyHash))
	case kind == kindConsumer && consumerID != "":
		a.cache.forgetConsumer(consumerID)
	default:
		// An unknown kind: drop whatever it names rather than guess.
		if hashOK {
			a.cache.forget((*digest)(keyHash))
		}
		if consumerID != "" {
			a.cache.forgetConsumer(consumerID)
		}
	}
}

// throttle lets one event through per logEvery, for log lines that would
// otherwise repeat on every request during an outage.
type throttle struct{ last atomic.Int64 }

// ok reports whether an event at now (unix nanoseconds) may be logged.
func (t *throttle) ok(now int64) bool {
	last := t.last.Load()
	if last != 0 && now-last < int64(logEvery) {
		return false
	}
	return t.last.CompareAndSwap(last, now)
}
