package telemetry

import (
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of NewAccessLog.
const (
	defaultQueueSize     = 8192
	defaultFlushInterval = 100 * time.Millisecond
)

// Field caps keep one hostile request from writing a huge line.
const (
	maxPathBytes      = 4096
	maxUserAgentBytes = 512
	maxErrorBytes     = 1024
	maxPooledLine     = 16 << 10
)

// Entry is one access log line. The server fills it when a request ends,
// usually with EntryFrom; it is a plain value and may live on the stack.
type Entry struct {
	// Time is when the request was received; zero means now.
	Time      time.Time
	RequestID string
	Route     string
	Method    string
	// Path is the request path. Anything from a '?' on is never written, so
	// a request URI handed in by mistake cannot leak its query.
	Path     string
	Status   int
	BytesIn  int64
	BytesOut int64
	Duration time.Duration
	Upstream string
	Target   string
	ClientIP string
	// Consumer, Error and UserAgent are written only when not empty.
	Consumer  string
	Error     string
	UserAgent string
	// Partial lists optional aggregate calls left out; written when any.
	Partial []string
	// GRPCStatus is the grpc-status a gRPC call ended with (see
	// pipeline.Exchange.GRPCStatus); written as grpc_status when not empty.
	GRPCStatus string
	// Model is the LLM model of a request of a route with llm (see
	// pipeline.LLMStats); with it, InputTokens and OutputTokens are
	// written as model, input_tokens and output_tokens.
	Model        string
	InputTokens  int64
	OutputTokens int64
	// Cache is what the route's response cache did (see
	// pipeline.Exchange.Cache); written as cache when not empty.
	Cache string
	// TraceID and SpanID identify the request's server span; written
	// when TraceID is valid (tracing on).
	TraceID trace.TraceID
	SpanID  trace.SpanID
}

// EntryFrom builds the entry of a finished request from its Exchange, the
// request and the time it took (the trace IDs are the caller's to add). It reads no header but User-Agent and not
// the query string. It allocates only for the error text, when there is one.
func EntryFrom(x *pipeline.Exchange, r *http.Request, d time.Duration) Entry {
	e := Entry{
		Time:      x.Start,
		RequestID: x.ID,
		Route:     x.RouteName,
		Method:    r.Method,
		Path:      r.URL.Path,
		Status:    x.Status,
		BytesIn:   x.BytesIn,
		BytesOut:  x.BytesOut,
		Duration:  d,
		Upstream:  x.Upstream,
		Target:    x.Target,
		ClientIP:  x.ClientIP,
		UserAgent: wire.First(r.Header, "User-Agent"),
		Partial:   x.Partial,

		GRPCStatus: x.GRPCStatus,
		Cache:      x.Cache,
	}
	if x.Consumer != nil {
		e.Consumer = x.Consumer.ID
	}
	if x.Err != nil {
		e.Error = x.Err.Error()
	}
	if l := x.LLM; l != nil {
		e.Model, e.InputTokens, e.OutputTokens = l.Model, l.InputTokens, l.OutputTokens
	}
	return e
}

// AccessLog writes one JSON line per request from a background goroutine.
// Log never blocks on the writer: each line is encoded on the caller's
// goroutine and appended to a shared pending buffer under a short lock,
// and the writer goroutine takes the whole buffer every flush interval,
// or sooner once it holds flushBytes. A request therefore wakes no
// goroutine (a channel send per line woke the writer for every request:
// at low rates that was a scheduler hand-off, and often an idle thread
// woken, per request). At most the queue size of lines wait for the
// writer; when it cannot keep up, more are dropped and counted. Lines are
// flushed at least every flush interval and on Close. It is safe for
// concurrent use.
type AccessLog struct {
	w          io.Writer
	queueSize  int
	flushEvery time.Duration
	metrics    *Metrics

	// mu guards pending (the lines not yet taken by the writer, whole
	// lines only); lines is how many it holds, written under mu and read
	// without it to skip encoding a line that would be dropped.
	mu      sync.Mutex
	pending []byte
	lines   atomic.Int64
	// kick wakes the writer early (pending reached flushBytes); quit
	// ends it; done is closed when it has.
	kick chan struct{}
	quit chan struct{}
	done chan struct{}

	closed    atomic.Bool
	dropped   atomic.Uint64
	closeOnce sync.Once
	err       error // first write error; owned by run until done is closed
}

// flushBytes is how much pending text wakes the writer before its tick.
const flushBytes = 32 << 10

// Option configures NewAccessLog.
type Option func(*AccessLog)

// WithMetrics counts dropped lines in m's gantry_access_log_dropped_total.
func WithMetrics(m *Metrics) Option { return func(a *AccessLog) { a.metrics = m } }

// withQueueSize sets how many lines may wait for the writer (default
// defaultQueueSize); more are dropped.
func withQueueSize(n int) Option {
	return func(a *AccessLog) {
		if n > 0 {
			a.queueSize = n
		}
	}
}

// withFlushInterval sets the longest time a logged line may wait before it
// is written (default defaultFlushInterval).
func withFlushInterval(d time.Duration) Option {
	return func(a *AccessLog) {
		if d > 0 {
			a.flushEvery = d
		}
	}
}

// NewAccessLog starts the writer goroutine of an access log to w. Call Close
// to stop it; w is not closed.
func NewAccessLog(w io.Writer, opts ...Option) *AccessLog {
	a := &AccessLog{
		w:          w,
		queueSize:  defaultQueueSize,
		flushEvery: defaultFlushInterval,
		kick:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, o := range opts {
		o(a)
	}
	go a.run()
	return a
}

type line struct{ b []byte }

var linePool = sync.Pool{New: func() any { return &line{b: make([]byte, 0, 512)} }}

func putLine(l *line) {
	// A huge line's buffer would pin its memory in the pool.
	if cap(l.b) <= maxPooledLine {
		linePool.Put(l)
	}
}

// Log queues e as one line and returns at once. It does not retain e. When
// the queue is full the line is dropped and counted; after Close, Log does
// nothing. A nil AccessLog discards everything.
func (a *AccessLog) Log(e *Entry) {
	if a == nil || a.closed.Load() {
		return
	}
	// Encoded outside the lock, and not at all when the line would be
	// dropped anyway (a hint; checked again under the lock).
	if a.lines.Load() >= int64(a.queueSize) {
		a.drop()
		return
	}
	l := linePool.Get().(*line)
	l.b = appendEntry(l.b[:0], e)
	a.mu.Lock()
	if a.lines.Load() >= int64(a.queueSize) {
		a.mu.Unlock()
		putLine(l)
		a.drop()
		return
	}
	a.pending = append(a.pending, l.b...)
	a.lines.Add(1)
	wake := len(a.pending) >= flushBytes && len(a.pending)-len(l.b) < flushBytes
	a.mu.Unlock()
	putLine(l)
	if wake {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

func (a *AccessLog) drop() {
	a.dropped.Add(1)
	a.metrics.accessLogDropped()
}

// Dropped returns how many lines were dropped because the queue was full.
func (a *AccessLog) Dropped() uint64 { return a.dropped.Load() }

// Close stops accepting lines, writes every pending one and waits for the
// writer goroutine. It returns the first write error, if any. It waits for
// a writer that blocks; call it once requests have drained.
func (a *AccessLog) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		close(a.quit)
	})
	<-a.done
	return a.err
}

// run owns the writes: it takes the pending lines on every tick, kick or
// the end, and writes them outside the lock with the buffer of the last
// round (two buffers in turn, so a round allocates nothing).
func (a *AccessLog) run() {
	defer close(a.done)
	tick := time.NewTicker(a.flushEvery)
	defer tick.Stop()
	var spare []byte
	for {
		select {
		case <-tick.C:
		case <-a.kick:
		case <-a.quit:
			// Requests have drained (see Close): what is pending is
			// the last of it.
			a.writePending(&spare)
			return
		}
		a.writePending(&spare)
	}
}

// writePending takes the pending lines and writes them; spare is the
// buffer to leave in their place, and becomes the one just written.
func (a *AccessLog) writePending(spare *[]byte) {
	a.mu.Lock()
	b := a.pending
	a.pending = (*spare)[:0]
	a.lines.Store(0)
	a.mu.Unlock()
	if len(b) > 0 {
		if _, err := a.w.Write(b); err != nil && a.err == nil {
			a.err = err
		}
	}
	// A burst's buffer is not kept.
	if cap(b) > 4*flushBytes {
		b = nil
	}
	*spare = b
}

// appendEntry appends e as one JSON object and a newline.
func appendEntry(b []byte, e *Entry) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	b = append(b, `{"time":"`...)
	b = appendTime(b, t)
	b = append(b, `","request_id":`...)
	b = appendJSONString(b, e.RequestID)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"path":`...)
	path, _, _ := strings.Cut(e.Path, "?")
	b = appendJSONString(b, truncate(path, maxPathBytes))
	b = append(b, `,"status":`...)
	b = appendInt(b, int64(e.Status))
	b = append(b, `,"bytes_in":`...)
	b = appendInt(b, e.BytesIn)
	b = append(b, `,"bytes_out":`...)
	b = appendInt(b, e.BytesOut)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, e.Duration)
	b = append(b, `,"upstream":`...)
	b = appendJSONString(b, e.Upstream)
	b = append(b, `,"target":"`...)
	b = appendJSONStringBody(b, e.Target, true)
	b = append(b, `","client_ip":`...)
	b = appendJSONString(b, e.ClientIP)
	if e.Consumer != "" {
		b = append(b, `,"consumer":`...)
		b = appendJSONString(b, e.Consumer)
	}
	if e.Error != "" {
		b = append(b, `,"error":"`...)
		b = appendJSONStringBody(b, truncate(e.Error, maxErrorBytes), true)
		b = append(b, '"')
	}
	if e.UserAgent != "" {
		b = append(b, `,"user_agent":`...)
		b = appendJSONString(b, truncate(e.UserAgent, maxUserAgentBytes))
	}
	if len(e.Partial) > 0 {
		b = append(b, `,"partial":[`...)
		for i, name := range e.Partial {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, name)
		}
		b = append(b, ']')
	}
	if e.GRPCStatus != "" {
		b = append(b, `,"grpc_status":`...)
		b = appendJSONString(b, e.GRPCStatus)
	}
	if e.Model != "" {
		b = append(b, `,"model":`...)
		b = appendJSONString(b, e.Model)
		b = append(b, `,"input_tokens":`...)
		b = appendInt(b, e.InputTokens)
		b = append(b, `,"output_tokens":`...)
		b = appendInt(b, e.OutputTokens)
	}
	if e.Cache != "" {
		b = append(b, `,"cache":`...)
		b = appendJSONString(b, e.Cache)
	}
	if e.TraceID.IsValid() {
		b = append(b, `,"trace_id":"`...)
		b = hex.AppendEncode(b, e.TraceID[:])
		b = append(b, `","span_id":"`...)
		b = hex.AppendEncode(b, e.SpanID[:])
		b = append(b, '"')
	}
	return append(b, '}', '\n')
}
