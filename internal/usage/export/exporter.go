package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Defaults for Options fields left zero.
const (
	defaultBatchSize     = 500
	defaultMaxSpoolBytes = 1 << 30
	defaultTimeout       = 10 * time.Second
	defaultMinBackoff    = 250 * time.Millisecond
	defaultMaxBackoff    = 30 * time.Second
)

// Options configures an Exporter.
type Options struct {
	// URL is the batch ingest endpoint, http or https, such as OpenMeter's
	// /api/v1/events. Required.
	URL string
	// BatchSize is the most events in one request. Default 500.
	BatchSize int
	// SpoolDir holds undelivered events. Required; one process per
	// directory (it is locked). Events left by an earlier process using the
	// same directory are delivered first.
	SpoolDir string
	// MaxSpoolBytes bounds undelivered events on disk; beyond it the oldest
	// are dropped and counted. Default 1GiB.
	MaxSpoolBytes int64
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Timeout bounds one delivery request. Default 10s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed deliveries,
	// which doubles from MinBackoff up to MaxBackoff, with jitter. Defaults
	// 250ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Client sends the requests. Default: a client over
	// http.DefaultTransport.
	Client *http.Client
	// Logger gets a line when delivery starts failing and when it recovers,
	// for each rejected batch and for each drop. Default slog.Default().
	Logger *slog.Logger
	// Clock times backoff. Default: the system clock.
	Clock Clock

	// Hooks for metrics; each may be nil and must not block. They run on
	// the goroutine that caused them (Run, Close or Enqueue).
	//
	// OnSent gets the number of events a receiver accepted.
	OnSent func(n int)
	// OnFailed gets every failed delivery attempt; a *StatusError when the
	// receiver answered.
	OnFailed func(err error)
	// OnDropped gets the number of undelivered events lost: dropped by the
	// spool cap, or damaged on disk.
	OnDropped func(n int)
	// OnRejected gets the number of events the receiver refused for good
	// and that were moved to rejected.log.
	OnRejected func(n int)
}

// Clock is the time source of an Exporter.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// StatusError is a delivery the receiver answered with a status other than
// 2xx.
type StatusError struct {
	Status int
	// Body is the start of the response body, for the log.
	Body string
	// RetryAfter is the receiver's Retry-After, when it sent one.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("usage ingest answered %d", e.Status)
	}
	return fmt.Sprintf("usage ingest answered %d: %s", e.Status, e.Body)
}

// poison reports a refusal that a resend cannot fix. 408 and 429 are about
// timing, not content.
func (e *StatusError) poison() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// splittable reports a refusal that may be caused by some of the events or
// by the batch's size: the batch is halved until the culprit is alone.
func (e *StatusError) splittable() bool {
	return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusUnprocessableEntity
}

// Exporter spools usage events and delivers them. Enqueue is safe for
// concurrent use; Run delivers until its context ends or Close.
type Exporter struct {
	o   Options
	log *slog.Logger
	sp  *spool

	encoders sync.Pool
	wake     chan struct{}
	closing  chan struct{}
	abort    context.Context
	stop     context.CancelFunc

	closeMu  sync.Mutex
	closed   bool
	closeErr error

	// sendMu makes Run and Close's drain one sender; it guards the rest.
	sendMu    sync.Mutex
	b         batch
	br        *bufio.Reader
	limit     int
	attempt   int
	downSince time.Time
}

// New opens the spool in o.SpoolDir and returns an Exporter. Nothing is
// sent until Run or Close.
func New(o Options) (*Exporter, error) {
	var errs []error
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("usage export: url %q must be an http or https URL", o.URL))
	}
	if o.SpoolDir == "" {
		errs = append(errs, errors.New("usage export: spool dir is required"))
	}
	for _, v := range []struct {
		name string
		neg  bool
	}{
		{"batch size", o.BatchSize < 0}, {"max spool bytes", o.MaxSpoolBytes < 0}, {"timeout", o.Timeout < 0},
		{"min backoff", o.MinBackoff < 0}, {"max backoff", o.MaxBackoff < 0},
	} {
		if v.neg {
			errs = append(errs, fmt.Errorf("usage export: %s must not be negative", v.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	setDefault(&o.BatchSize, defaultBatchSize)
	setDefault(&o.MaxSpoolBytes, defaultMaxSpoolBytes)
	setDefault(&o.Timeout, defaultTimeout)
	setDefault(&o.MinBackoff, defaultMinBackoff)
	setDefault(&o.MaxBackoff, defaultMaxBackoff)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	sp, err := openSpool(o.SpoolDir, o.MaxSpoolBytes, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("usage export: %w", err)
	}
	abort, stop := context.WithCancel(context.Background())
	e := &Exporter{
		o:       o,
		log:     o.Logger,
		sp:      sp,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		abort:   abort,
		stop:    stop,
		br:      bufio.NewReaderSize(nil, maxRecordBytes),
		limit:   o.BatchSize,
	}
	e.encoders.New = func() any { return newEncoder() }
	if n := sp.pendingBytes(); n > 0 {
		e.log.Info("usage export: resuming spooled events", "spool_bytes", n)
	}
	return e, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// encoder turns events into spool records in a reused buffer.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
	ce  cloudEvent // reused so that Encode does not box a copy per event
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}

// add appends ev's record line.
func (e *encoder) add(ev *Event) error {
	start := e.buf.Len()
	e.buf.WriteString("00000000 ")
	e.ce = ev.wire()
	if err := e.enc.Encode(&e.ce); err != nil {
		e.buf.Truncate(start)
		return err
	}
	line := e.buf.Bytes()[start:] // Encode ends it with the newline
	if len(line) > maxRecordBytes {
		e.buf.Truncate(start)
		return fmt.Errorf("event is %d bytes encoded, more than %d", len(line), maxRecordBytes)
	}
	putCRC(line[:crcHexLen], line[crcHexLen+1:len(line)-1])
	return nil
}

// Enqueue spools events; when it returns nil they are on disk (fsynced)
// and will be delivered, by this process or the next one using the same
// SpoolDir, unless the spool cap drops them. An invalid event (empty id,
// source, type or subject) fails the whole call before anything is
// written. After Close it returns ErrClosed. Safe for concurrent use.
func (e *Exporter) Enqueue(events []Event) error {
	if len(events) == 0 {
		return nil
	}
	enc := e.encoders.Get().(*encoder)
	defer func() {
		if enc.buf.Cap() <= 4<<20 {
			enc.buf.Reset()
			e.encoders.Put(enc)
		}
	}()
	for i := range events {
		if err := events[i].validate(); err != nil {
			return fmt.Errorf("usage export: event %d: %w", i, err)
		}
		if err := enc.add(&events[i]); err != nil {
			return fmt.Errorf("usage export: event %d: %w", i, err)
		}
	}
	dropped, err := e.sp.append(enc.buf.Bytes())
	if errors.Is(err, ErrClosed) {
		return err
	}
	if err != nil {
		return fmt.Errorf("usage export: %w", err)
	}
	if dropped > 0 {
		e.log.Warn("usage export: spool full, dropped oldest events", "dropped", dropped, "max_spool_bytes", e.o.MaxSpoolBytes)
		call(e.o.OnDropped, dropped)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return nil
}

func call[T any](f func(T), v T) {
	if f != nil {
		f(v)
	}
}

// Run delivers spooled events, oldest first, until ctx ends or Close is
// called. Failed deliveries are retried with backoff; nothing is removed
// from the spool before the receiver accepted it. Run does not return an
// error: failures go to the log and OnFailed.
func (e *Exporter) Run(ctx context.Context) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	select {
	case <-e.closing:
		// Close drains on its own; after it the spool belongs to the next process.
		return
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.abort, cancel)()
	for e.drain(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-e.closing:
			return
		case <-e.wake:
		}
	}
}

// Close stops Enqueue (it returns ErrClosed from then on), delivers what is
// left until the spool is empty or ctx ends, and releases the spool.
// Undelivered events stay on disk for the next process using the same
// SpoolDir; the error then wraps ErrUndelivered. A running Run is stopped.
// Calling Close again returns the first call's result.
func (e *Exporter) Close(ctx context.Context) error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return e.closeErr
	}
	e.closed = true
	close(e.closing)
	// Appends stop first, so the drain below has an end.
	e.sp.stopAppends()

	locked := make(chan struct{})
	go func() {
		e.sendMu.Lock()
		close(locked)
	}()
	select {
	case <-locked:
	case <-ctx.Done():
		e.stop()
		<-locked
	}
	defer e.sendMu.Unlock()
	defer e.stop()

	e.drain(ctx)
	left := e.sp.pendingBytes()
	err := e.sp.close()
	if left > 0 {
		e.log.Warn("usage export: undelivered events stay in the spool", "spool_bytes", left, "spool_dir", e.o.SpoolDir)
		err = errors.Join(err, fmt.Errorf("%w: %d bytes", ErrUndelivered, left))
	}
	e.closeErr = err
	return err
}

// drain delivers until the spool is empty (true) or ctx ends (false).
// Callers hold sendMu.
func (e *Exporter) drain(ctx context.Context) bool {
	for ctx.Err() == nil {
		progressed, err := e.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			e.failed(err)
			if !e.sleep(ctx, e.backoff(err)) {
				return false
			}
			continue
		}
		e.recovered()
		if !progressed {
			return true
		}
	}
	return false
}

// SpoolBytes reports the undelivered bytes in the spool, for a gauge.
// Safe for concurrent use.
func (e *Exporter) SpoolBytes() int64 { return e.sp.pendingBytes() }

// step delivers at most one batch. It reports whether the spool moved, so
// the caller goes on at once, and a failed delivery's error.
func (e *Exporter) step(ctx context.Context) (bool, error) {
	b := &e.b
	if err := e.sp.read(b, e.limit, e.br); err != nil {
		return false, err
	}
	n := b.n()
	if n == 0 {
		if b.from == b.end {
			e.sp.unpin()
			return false, nil
		}
		e.settled(b, 0, e.sp.ack(b))
		return true, nil
	}
	err := e.post(ctx, b.jsonBody())
	if err == nil {
		e.settled(b, n, e.sp.ack(b))
		e.limit = min(e.limit*2, e.o.BatchSize)
		return true, nil
	}
	var se *StatusError
	if !errors.As(err, &se) || !se.poison() {
		e.sp.unpin()
		return false, err
	}
	if se.splittable() && n > 1 {
		// Find the events the receiver objects to instead of losing the
		// batch; the limit grows back as halves get through.
		e.sp.unpin()
		e.limit = (n + 1) / 2
		e.log.Debug("usage export: batch refused, splitting", "status", se.Status, "events", n)
		return true, nil
	}
	if rerr := e.sp.reject(b); rerr != nil {
		return false, errors.Join(err, rerr)
	}
	e.log.Error("usage export: receiver refused events, moved to "+rejectedFile,
		"status", se.Status, "events", n, "response", se.Body, "spool_dir", e.o.SpoolDir)
	call(e.o.OnFailed, error(se))
	call(e.o.OnRejected, n)
	e.settled(b, 0, nil)
	return true, nil
}

// settled reports a batch the spool moved past: sent events, and damage
// that was skipped on the way.
func (e *Exporter) settled(b *batch, sent int, ackErr error) {
	if ackErr != nil {
		// Delivery went through; at worst a restart resends the batch.
		e.log.Error("usage export: recording delivery", "error", ackErr)
	}
	if sent > 0 {
		call(e.o.OnSent, sent)
	}
	if b.corrupt > 0 {
		e.log.Error("usage export: skipped damaged spool records", "events", b.corrupt)
		call(e.o.OnDropped, b.corrupt)
	}
	if b.torn > 0 {
		e.log.Info("usage export: skipped a torn spool tail left by a crash", "segments", b.torn)
	}
}

func (e *Exporter) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("posting usage events: %w", err)
	}
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	req.Header.Set("User-Agent", "gantry-usage-export")
	if e.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+e.o.Token)
	}
	resp, err := e.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting usage events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain so the connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &StatusError{
		Status:     resp.StatusCode,
		Body:       string(bytes.TrimSpace(snippet)),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), e.o.Clock.Now()),
	}
}

// retryAfter parses Retry-After (RFC 9110 section 10.2.3): seconds or an
// HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (e *Exporter) failed(err error) {
	if e.attempt == 0 {
		e.downSince = e.o.Clock.Now()
		e.log.Warn("usage export: delivery failing, retrying with backoff", "error", err, "spool_bytes", e.sp.pendingBytes())
	} else {
		e.log.Debug("usage export: delivery failed", "error", err, "attempt", e.attempt+1)
	}
	call(e.o.OnFailed, err)
}

func (e *Exporter) recovered() {
	if e.attempt == 0 {
		return
	}
	e.log.Info("usage export: delivery recovered", "down_for", e.o.Clock.Now().Sub(e.downSince).String(), "attempts", e.attempt)
	e.attempt = 0
}

// backoff is the wait before the next attempt: MinBackoff doubling per
// failure up to MaxBackoff, the upper half of it at random so several nodes
// don't retry in step, and never less than a Retry-After within MaxBackoff.
func (e *Exporter) backoff(err error) time.Duration {
	d := e.o.MinBackoff
	for i := 0; i < e.attempt && d < e.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, e.o.MaxBackoff)
	e.attempt++
	d = d/2 + rand.N(d/2+1)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = min(se.RetryAfter, e.o.MaxBackoff)
	}
	return d
}

func (e *Exporter) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-e.o.Clock.After(d):
		return true
	}
}
