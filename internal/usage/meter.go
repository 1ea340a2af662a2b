package usage

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
)

// Defaults of Options.
const (
	defaultFlushInterval = time.Second
	defaultFlushTimeout  = 10 * time.Second
	defaultGrace         = 2 * time.Second
	// defaultMaxPending bounds the buckets held in memory: about 120 MB at
	// the most (240 bytes a bucket), and, for 1,000 busy (consumer, route)
	// pairs, over eight hours of storage outage.
	defaultMaxPending = 500_000
	// pruneEvery is how often rows past the retention are deleted.
	pruneEvery = time.Hour
)

// Ledger is where the meter writes: store.Store is one.
type Ledger interface {
	UpsertUsage(ctx context.Context, nodeID string, rows []store.UsageRow) error
	DeleteUsageBefore(ctx context.Context, t time.Time) (int64, error)
}

// Options configure a Meter. Only Ledger is required.
type Options struct {
	// Ledger receives the totals.
	Ledger Ledger
	// NodeID names this process in the ledger; it must differ from every
	// other process writing the same database, including this one's
	// predecessor. Default newNodeID().
	NodeID string
	// FlushInterval is how often Start's loop writes. Default 1s.
	FlushInterval time.Duration
	// FlushTimeout bounds each write to storage. Default 10s.
	FlushTimeout time.Duration
	// Grace is how long after its minute a bucket still takes requests
	// that finished in that minute but were recorded late. Later ones
	// count in the next open minute. Default 2s; negative for none.
	Grace time.Duration
	// MaxPending bounds the buckets held in memory. A record that needs a
	// new bucket beyond it is dropped and counted. Default 500,000.
	MaxPending int
	// Versions are the API versions recorded as such: those the routes
	// name and the versioning default (see ConfigVersions). Clients choose
	// the version they send, so any other is recorded as otherVersion,
	// which keeps the number of buckets bounded. "" is always kept.
	// SetVersions changes them on a reload.
	Versions []string
	// Retention, when positive, makes Start's loop delete rows whose
	// minute is older than now minus Retention, every hour.
	Retention time.Duration
	// Logger receives a line when writes start or stop failing and when
	// records start being dropped. Default: discard.
	Logger *slog.Logger
	// OnFlush, when set, is called after every write attempt that had
	// rows to write: whether it succeeded, how many rows it wrote, and the
	// error.
	OnFlush func(ok bool, rows int, err error)
	// OnDrop, when set, is called by the flusher with the number of
	// records dropped since its previous call.
	OnDrop func(n int64)
	// OnFinal, when set, receives buckets once their minute has ended and
	// their final totals are stored; each bucket exactly once per Meter.
	// It runs on the flusher's goroutine and must not call Flush or Close.
	OnFinal func(buckets []Bucket)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// flushChunk is the most rows one UpsertUsage call carries: a flush of a
// large backlog is several short transactions, each retried on its own.
const flushChunk = 5000

// Record spreads over numShards locks, picked by the top shardBits bits
// of the (consumer, route) hash.
const (
	shardBits = 8
	numShards = 1 << shardBits
)

// sealedForever marks a shard of a closed Meter: it takes no more records.
const sealedForever = math.MaxInt64

// otherVersion is recorded in place of an API version that no route names.
const otherVersion = "other"

// Meter counts requests in memory and writes the totals to a Ledger. It is
// safe for concurrent use.
type Meter struct {
	o        Options
	seed     maphash.Seed
	strHash  func(string) uint64 // maphash with seed; replaced in tests
	versions atomic.Pointer[map[string]bool]
	shards   [numShards]shard

	// pending counts the buckets in memory, dropped the records not
	// counted since the last OnDrop.
	pending atomic.Int64
	dropped atomic.Int64
	// failing is whether the last write to the ledger failed; flushes
	// (under flushMu) write it, /readyz reads it without the lock.
	failing atomic.Bool
	// clean is when (Unix nanoseconds, by Options.Now) the last flush
	// that wrote everything began, or New ran; flushes write it, FlushLag
	// reads it.
	clean atomic.Int64

	// flushMu serialises flushes; the fields after it belong to it.
	flushMu   sync.Mutex
	dropping  bool
	nextPrune time.Time

	startOnce sync.Once
	closeOnce sync.Once
	cancel    context.CancelFunc
	ctx       context.Context
	done      chan struct{}
}

// A shard holds the buckets of the (consumer, route) pairs that hash to
// it. Its map is keyed by a 64-bit hash of the bucket's key and its minute,
// so a lookup neither hashes nor compares strings inside the map; the
// entry's own strings confirm the match, and entries whose hashes collide
// are chained.
type shard struct {
	mu sync.Mutex
	m  map[slot]*entry
	// sealedBefore: buckets starting before it (Unix seconds) are sealed
	// and take no more records.
	sealedBefore int64
	_            [40]byte // One cache line per shard.
}

type slot struct {
	hash   uint64
	bucket int64
}

type key struct {
	consumer, route, version, model string
	bucket                          int64
}

type entry struct {
	k    key
	hash uint64
	next *entry // Another key in the same slot.
	c    store.UsageCounts
	// seq counts the records added; flushed is the seq the ledger holds.
	seq, flushed uint64
	sealed       bool
}

func (sh *shard) find(h uint64, b int64, consumer, route, version, model string) *entry {
	for e := sh.m[slot{h, b}]; e != nil; e = e.next {
		if e.k.consumer == consumer && e.k.route == route && e.k.version == version && e.k.model == model {
			return e
		}
	}
	return nil
}

func (sh *shard) insert(e *entry) {
	s := slot{e.hash, e.k.bucket}
	e.next = sh.m[s]
	sh.m[s] = e
}

func (sh *shard) remove(e *entry) {
	s := slot{e.hash, e.k.bucket}
	head := sh.m[s]
	if head == e {
		if e.next == nil {
			delete(sh.m, s)
		} else {
			sh.m[s] = e.next
		}
		return
	}
	for p := head; p != nil; p = p.next {
		if p.next == e {
			p.next = e.next
			return
		}
	}
}

// New returns a Meter; Start begins its flush loop.
func New(o Options) (*Meter, error) {
	if o.Ledger == nil {
		return nil, errors.New("usage meter: no ledger")
	}
	if o.NodeID == "" {
		o.NodeID = newNodeID()
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = defaultFlushTimeout
	}
	if o.Grace < 0 {
		o.Grace = 0
	} else if o.Grace == 0 {
		o.Grace = defaultGrace
	}
	if o.MaxPending <= 0 {
		o.MaxPending = defaultMaxPending
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Meter{o: o, seed: maphash.MakeSeed(), done: make(chan struct{})}
	m.strHash = func(s string) uint64 { return maphash.String(m.seed, s) }
	m.clean.Store(o.Now().UnixNano())
	m.SetVersions(o.Versions)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for i := range m.shards {
		m.shards[i].m = map[slot]*entry{}
	}
	return m, nil
}

// newNodeID returns the host name and 8 random hex digits: readable in the
// ledger, and new for every process, so a restarted gateway never
// overwrites its predecessor's rows.
func newNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "gantry"
	}
	host = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '_'
		}
		return r
	}, host)
	b := make([]byte, 4)
	rand.Read(b)
	return host[:min(len(host), 64)] + "-" + hex.EncodeToString(b)
}

// NodeID returns the node id the meter writes under.
func (m *Meter) NodeID() string { return m.o.NodeID }

// Buffering reports whether the last write to the ledger failed, so that
// counts wait in memory (at most MaxPending buckets) until one succeeds.
func (m *Meter) Buffering() bool { return m.failing.Load() }

// FlushLag returns how long ago the last flush that wrote everything
// began: every record older than that is in storage. It stays under
// Options.FlushInterval while storage keeps up and grows while writes fail
// (gantry_usage_flush_lag_seconds). Safe for concurrent use.
func (m *Meter) FlushLag() time.Duration {
	return max(0, m.o.Now().Sub(time.Unix(0, m.clean.Load())))
}

// Pending returns the number of buckets held in memory.
func (m *Meter) Pending() int { return int(m.pending.Load()) }

// SetVersions replaces the API versions recorded as such (see
// Options.Versions). Buckets already held keep their version until their
// minute ends.
func (m *Meter) SetVersions(versions []string) {
	set := make(map[string]bool, len(versions)+1)
	set[""] = true
	for _, v := range versions {
		set[v] = true
	}
	m.versions.Store(&set)
}

// ConfigVersions returns the API versions cfg's routes name and its
// versioning default, lower-cased as the router compares them: the
// Versions a gateway running cfg meters.
func ConfigVersions(cfg *config.Config) []string {
	var vs []string
	if cfg.Versioning != nil {
		vs = append(vs, lowerASCII(strings.TrimSpace(cfg.Versioning.Default)))
	}
	for _, r := range cfg.Routes {
		if r != nil {
			vs = append(vs, lowerASCII(strings.TrimSpace(r.Match.Version)))
		}
	}
	slices.Sort(vs)
	// A copy: the list is kept while cfg is in force, and vs has room
	// for a version per route.
	return slices.Clone(slices.Compact(vs))
}

func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// Record counts r. It never blocks on storage and, for a (consumer, route,
// version, minute) already held, allocates nothing. It does not retain r,
// only r's strings, as the key of a new bucket, until the bucket is final.
func (m *Meter) Record(r *Record) {
	if r.Route == "" {
		return
	}
	t := r.Time
	if t.IsZero() {
		t = m.o.Now()
	}
	b := t.Unix()
	b -= b % 60
	pair := m.strHash(r.Consumer)*0x9e3779b97f4a7c15 ^ m.strHash(r.Route)
	h := mix(pair, m.strHash(r.Version))
	if r.Model != "" {
		h = mix(h, m.strHash(r.Model))
	}
	sh := &m.shards[pair>>(64-shardBits)]
	sh.mu.Lock()
	if b < sh.sealedBefore {
		if sh.sealedBefore == sealedForever {
			sh.mu.Unlock()
			m.dropped.Add(1)
			return
		}
		// Its minute is sealed (and maybe stored as final): count it in
		// the first open one instead of changing a final total.
		b = sh.sealedBefore
	}
	e := sh.find(h, b, r.Consumer, r.Route, r.Version, r.Model)
	if e == nil {
		e = m.newEntry(sh, pair, h, b, r)
		if e == nil {
			sh.mu.Unlock()
			m.dropped.Add(1)
			return
		}
	}
	add(&e.c, r)
	e.seq++
	sh.mu.Unlock()
}

// newEntry finds or adds the bucket for r's key in minute b, with an
// unknown version replaced by otherVersion; nil past MaxPending. Called
// with sh locked.
func (m *Meter) newEntry(sh *shard, pair, h uint64, b int64, r *Record) *entry {
	version := r.Version
	if !(*m.versions.Load())[version] {
		version = otherVersion
		h = mix(pair, m.strHash(version))
		if r.Model != "" {
			h = mix(h, m.strHash(r.Model))
		}
		if e := sh.find(h, b, r.Consumer, r.Route, version, r.Model); e != nil {
			return e
		}
	}
	if m.pending.Add(1) > int64(m.o.MaxPending) {
		m.pending.Add(-1)
		return nil
	}
	e := &entry{k: key{r.Consumer, r.Route, version, r.Model, b}, hash: h}
	sh.insert(e)
	return e
}

func mix(a, b uint64) uint64 {
	return bits.RotateLeft64(a, 27)*0xbf58476d1ce4e5b9 ^ b
}

// Start runs the flush loop in the background until Close: a flush every
// FlushInterval, and the retention clean-up every hour.
func (m *Meter) Start() {
	m.startOnce.Do(func() { go m.loop() })
}

func (m *Meter) loop() {
	defer close(m.done)
	t := time.NewTicker(m.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		// Failures are logged and reported by flush; the next tick retries.
		m.Flush(m.ctx)
		m.prune(m.ctx)
	}
}

// Flush writes every bucket changed since the last successful write and
// seals those whose minute ended more than Grace ago. It returns the first
// write error; buckets not written stay in memory for the next flush.
func (m *Meter) Flush(ctx context.Context) error {
	return m.flush(ctx, false)
}

// Close stops the loop, seals every bucket, the current minute's too, and
// writes them all, retrying until ctx is done. The server must have stopped
// serving: records arriving after Close are dropped. It returns an error
// naming how many buckets could not be stored.
func (m *Meter) Close(ctx context.Context) error {
	first := false
	m.closeOnce.Do(func() {
		first = true
		m.cancel()
		m.startOnce.Do(func() { close(m.done) }) // Never started: no loop to wait for.
	})
	<-m.done
	wait := 50 * time.Millisecond
	for {
		err := m.flush(ctx, true)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if first {
				m.o.Logger.Error("usage lost on shutdown: storage did not take the last counts",
					"buckets", m.Pending(), "error", err)
			}
			return fmt.Errorf("closing usage meter: %d buckets not stored: %w", m.Pending(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// work is a bucket to write: its entry and the totals copied under the
// shard's lock.
type work struct {
	shard int
	e     *entry
	seq   uint64
	c     store.UsageCounts
}

func (m *Meter) flush(ctx context.Context, all bool) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	began := m.o.Now().UnixNano()

	seal := m.o.Now().Add(-m.o.Grace).Unix()
	seal -= seal % 60
	if all {
		seal = sealedForever
	}
	var (
		todo   []work
		finals []Bucket
	)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		sh.sealedBefore = max(sh.sealedBefore, seal)
		for _, head := range sh.m {
			for e := head; e != nil; {
				next := e.next
				if e.k.bucket < sh.sealedBefore {
					e.sealed = true
				}
				switch {
				case e.seq != e.flushed:
					todo = append(todo, work{shard: i, e: e, seq: e.seq, c: e.c})
				case e.sealed:
					// Stored with these totals by an earlier flush.
					sh.remove(e)
					m.pending.Add(-1)
					finals = append(finals, m.bucket(e.k, e.c))
				}
				e = next
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(todo, func(a, b work) int {
		return cmp.Or(cmp.Compare(a.e.k.bucket, b.e.k.bucket), cmp.Compare(a.e.k.consumer, b.e.k.consumer),
			cmp.Compare(a.e.k.route, b.e.k.route), cmp.Compare(a.e.k.version, b.e.k.version), cmp.Compare(a.e.k.model, b.e.k.model))
	})

	var (
		err     error
		written int
	)
	for start := 0; start < len(todo) && err == nil; start += flushChunk {
		chunk := todo[start:min(start+flushChunk, len(todo))]
		rows := make([]store.UsageRow, len(chunk))
		for i, w := range chunk {
			k := w.e.k
			rows[i] = store.UsageRow{Bucket: time.Unix(k.bucket, 0).UTC(), Consumer: k.consumer, Route: k.route, Version: k.version, Model: k.model, UsageCounts: w.c}
		}
		wctx, cancel := context.WithTimeout(ctx, m.o.FlushTimeout)
		err = m.o.Ledger.UpsertUsage(wctx, m.o.NodeID, rows)
		cancel()
		if err != nil {
			break
		}
		written += len(chunk)
		for _, w := range chunk {
			sh := &m.shards[w.shard]
			sh.mu.Lock()
			w.e.flushed = w.seq
			// A sealed entry takes no more records, so these totals are
			// its last.
			if w.e.sealed {
				sh.remove(w.e)
				m.pending.Add(-1)
				finals = append(finals, m.bucket(w.e.k, w.c))
			}
			sh.mu.Unlock()
		}
	}
	// A write abandoned by the caller (Close stopping the loop) is not a
	// storage failure; the next flush writes the same rows.
	abandoned := err != nil && ctx.Err() != nil
	if err == nil {
		// Everything recorded before began is in storage now.
		m.clean.Store(began)
	}
	m.report(len(todo), written, err, abandoned)
	if len(finals) > 0 && m.o.OnFinal != nil {
		m.o.OnFinal(finals)
	}
	return err
}

func (m *Meter) bucket(k key, c store.UsageCounts) Bucket {
	return Bucket{NodeID: m.o.NodeID, UsageRow: store.UsageRow{
		Bucket: time.Unix(k.bucket, 0).UTC(), Consumer: k.consumer, Route: k.route, Version: k.version, Model: k.model, UsageCounts: c,
	}}
}

// report calls the hooks and logs the transitions between writing and
// failing, and into and out of dropping. Called with flushMu held.
func (m *Meter) report(todo, written int, err error, abandoned bool) {
	if todo > 0 && m.o.OnFlush != nil && !abandoned {
		m.o.OnFlush(err == nil, written, err)
	}
	switch {
	case abandoned:
	case err != nil && !m.failing.Load():
		m.failing.Store(true)
		m.o.Logger.Warn("usage cannot be written to storage; keeping counts in memory and retrying",
			"error", err, "pending_buckets", m.Pending(), "max_pending", m.o.MaxPending)
	case err == nil && m.failing.Load():
		m.failing.Store(false)
		m.o.Logger.Info("usage is written to storage again", "rows", written)
	}
	n := m.dropped.Swap(0)
	if n > 0 && m.o.OnDrop != nil {
		m.o.OnDrop(n)
	}
	switch {
	case n > 0 && !m.dropping:
		m.dropping = true
		m.o.Logger.Error("usage records dropped: too many buckets wait in memory",
			"dropped", n, "max_pending", m.o.MaxPending)
	case n == 0 && m.dropping:
		m.dropping = false
		m.o.Logger.Info("usage records are counted again", "pending_buckets", m.Pending())
	}
}

// prune deletes rows past the retention, at most once per pruneEvery (a
// minute after a failure).
func (m *Meter) prune(ctx context.Context) {
	if m.o.Retention <= 0 {
		return
	}
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	now := m.o.Now()
	if now.Before(m.nextPrune) {
		return
	}
	n, err := m.Prune(ctx)
	if err != nil {
		m.nextPrune = now.Add(time.Minute)
		m.o.Logger.Warn("deleting old usage failed", "error", err)
		return
	}
	m.nextPrune = now.Add(pruneEvery)
	if n > 0 {
		m.o.Logger.Info("deleted old usage", "rows", n, "retention", m.o.Retention.String())
	}
}

// Prune deletes the ledger rows, of every node, whose minute began before
// now minus Retention; with no retention it deletes nothing.
func (m *Meter) Prune(ctx context.Context) (int64, error) {
	if m.o.Retention <= 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.o.FlushTimeout)
	defer cancel()
	return m.o.Ledger.DeleteUsageBefore(ctx, m.o.Now().Add(-m.o.Retention))
}
