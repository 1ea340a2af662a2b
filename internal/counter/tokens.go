package counter

import (
	"context"
	"time"
)

// Token limits (a plan's token_limit and token_quota) use the buckets and
// quota counters of Take with other arithmetic: Admit checks without
// taking, and Spend takes what the answer used once it is known, so a
// bucket's TAT can lie further ahead than its span (a balance below
// zero). A bucket of tokens is a Rate with Requests = Burst = tokens.

// maxAhead bounds how far ahead of now Spend moves a TAT (ten years), so
// that arithmetic on it cannot overflow, whatever n.
const maxAhead = int64(10 * 365 * 24 * time.Hour)

// balance returns the whole tokens the bucket holds at now: negative when
// spending took it below zero.
func (g gcra) balance(tat, now int64) int64 {
	v := g.span - (max(tat, now) - now)
	q := v / g.t
	if v < 0 && v%g.t != 0 {
		q--
	}
	return q
}

// spend returns the TAT after taking n tokens at now, at most maxAhead
// (in the unit of g.t, unit nanoseconds per unit) ahead of now.
func (g gcra) spend(tat, now, n, limit int64) int64 {
	tat = max(tat, now)
	if n <= 0 {
		return tat
	}
	if n > (now+limit-tat)/g.t {
		return now + limit
	}
	return tat + n*g.t
}

// Admit checks req without taking anything. It never fails.
func (m *Memory) Admit(_ context.Context, req Request) Decision {
	t := m.now()
	now, wall := m.mono(t), t.UnixNano()
	shardIdx, locks := m.lockAll(&req)
	defer m.unlockAll(&locks)

	d := Decision{Allowed: true}
	for i := 0; i < req.N; i++ {
		b := &req.Buckets[i]
		g := newGCRA(b.Rate)
		tat := now
		if c := m.shards[shardIdx[i]].buckets[key{b.Tag, b.Name}]; c != nil {
			tat = *c
		}
		if _, ok := g.admit(tat, now); !ok {
			d.Allowed = false
			w := time.Duration(g.wait(tat, now))
			if d.Reason == reasonNone || w > d.RetryAfter {
				d.Reason, d.Bucket, d.RetryAfter = reasonRate, i, w
			}
		}
		d.Buckets[i] = State{Limit: b.Rate.burst(), Remaining: g.balance(tat, now), Reset: time.Duration(g.wait(tat, now))}
	}
	if q := &req.Quota; q.Limit > 0 {
		qc := m.shards[shardIdx[maxBuckets]].quotas[key{q.Tag, q.Name}]
		if qc.end <= wall {
			_, end := q.Per.Bounds(t)
			qc = quotaCount{end: end.UnixNano()}
		}
		if qc.n >= q.Limit {
			d.Allowed = false
			d.Reason, d.Bucket, d.RetryAfter = ReasonQuota, 0, time.Duration(qc.end-wall)
		}
		d.Quota = State{Limit: q.Limit, Remaining: q.Limit - qc.n, Reset: time.Duration(qc.end - wall)}
	}
	return d
}

// Spend takes n tokens from req's buckets and adds n to its quota.
func (m *Memory) Spend(_ context.Context, req Request, n int64) {
	if n <= 0 {
		return
	}
	t := m.now()
	now, wall := m.mono(t), t.UnixNano()
	shardIdx, locks := m.lockAll(&req)
	defer m.unlockAll(&locks)
	for i := 0; i < req.N; i++ {
		b := &req.Buckets[i]
		g := newGCRA(b.Rate)
		s := &m.shards[shardIdx[i]]
		k := key{b.Tag, b.Name}
		if c := s.buckets[k]; c != nil {
			*c = g.spend(*c, now, n, maxAhead)
			continue
		}
		if len(s.buckets) >= m.perShard {
			s.evict(now)
		}
		c := new(int64)
		*c = g.spend(now, now, n, maxAhead)
		s.buckets[k] = c
	}
	if q := &req.Quota; q.Limit > 0 {
		s := &m.shards[shardIdx[maxBuckets]]
		k := key{q.Tag, q.Name}
		qc := s.quotas[k]
		if qc.end <= wall {
			_, end := q.Per.Bounds(t)
			qc = quotaCount{end: end.UnixNano()}
		}
		qc.n += n
		s.quotas[k] = qc
	}
}

// lockAll locks the shards of req's keys in ascending order and returns
// each key's shard (the quota's at maxBuckets). Keys of one tag share a
// shard, which is locked once.
func (m *Memory) lockAll(req *Request) (idx [maxBuckets + 1]uint8, locks lockSet) {
	for i := 0; i < req.N; i++ {
		idx[i] = m.shardOf(req.Buckets[i].Tag)
		locks.add(idx[i])
	}
	if q := &req.Quota; q.Limit > 0 {
		idx[maxBuckets] = m.shardOf(q.Tag)
		locks.add(idx[maxBuckets])
	}
	for i := 0; i < locks.n; i++ {
		m.shards[locks.idx[i]].mu.Lock()
	}
	return idx, locks
}

func (m *Memory) unlockAll(locks *lockSet) {
	for i := locks.n - 1; i >= 0; i-- {
		m.shards[locks.idx[i]].mu.Unlock()
	}
}
