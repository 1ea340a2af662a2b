package telemetry

import (
	"bufio"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
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
		UserAgent: r.UserAgent(),
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
// Log never blocks: lines go through a bounded queue, and when the writer
// cannot keep up they are dropped and counted. Lines are flushed at least
// every flush interval and on Close. It is safe for concurrent use.
type AccessLog struct {
	w          io.Writer
	queue      chan *line
	quit       chan struct{}
	done       chan struct{}
	flushEvery time.Duration
	metrics    *Metrics

	closed    atomic.Bool
	dropped   atomic.Uint64
	closeOnce sync.Once
	err       error // first write error; owned by run until done is closed
}

// Option configures NewAccessLog.
type Option func(*AccessLog)

// WithMetrics counts dropped lines in m's gantry_access_log_dropped_total.
func WithMetrics(m *Metrics) Option { return func(a *AccessLog) { a.metrics = m } }

// withQueueSize sets how many lines may wait for the writer (default
// defaultQueueSize); more are dropped.
func withQueueSize(n int) Option {
	return func(a *AccessLog) {
		if n > 0 {
			a.queue = make(chan *line, n)
		}
	}
}

// withFlushInterval sets the longest time a written line may sit in the
// buffer (default defaultFlushInterval).
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
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		flushEvery: defaultFlushInterval,
	}
	for _, o := range opts {
		o(a)
	}
	if a.queue == nil {
		a.queue = make(chan *line, defaultQueueSize)
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
	// Skip the encoding when the line would be dropped anyway.
	if len(a.queue) == cap(a.queue) {
		a.drop()
		return
	}
	l := linePool.Get().(*line)
	l.b = appendEntry(l.b[:0], e)
	select {
	case a.queue <- l:
	default:
		putLine(l)
		a.drop()
	}
}

func (a *AccessLog) drop() {
	a.dropped.Add(1)
	a.metrics.accessLogDropped()
}

// Dropped returns how many lines were dropped because the queue was full.
func (a *AccessLog) Dropped() uint64 { return a.dropped.Load() }

// Close stops accepting lines, writes every queued one, flushes and waits
// for the writer goroutine. It returns the first write error, if any. It
// waits for a writer that blocks; call it once requests have drained.
func (a *AccessLog) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		close(a.quit)
	})
	<-a.done
	return a.err
}

// run owns the bufio.Writer. The queue is never closed, since a Log racing
// Close would panic on a closed channel; quit ends the loop instead.
func (a *AccessLog) run() {
	defer close(a.done)
	bw := bufio.NewWriterSize(a.w, 64<<10)
	tick := time.NewTicker(a.flushEvery)
	defer tick.Stop()
	dirty := false
	for {
		select {
		case l := <-a.queue:
			a.write(bw, l)
			dirty = true
		case <-tick.C:
			if dirty {
				a.flush(bw)
				dirty = false
			}
		case <-a.quit:
			for {
				select {
				case l := <-a.queue:
					a.write(bw, l)
				default:
					a.flush(bw)
					return
				}
			}
		}
	}
}

func (a *AccessLog) write(bw *bufio.Writer, l *line) {
	if _, err := bw.Write(l.b); err != nil {
		a.fail(bw, err)
	}
	putLine(l)
}

func (a *AccessLog) flush(bw *bufio.Writer) {
	if err := bw.Flush(); err != nil {
		a.fail(bw, err)
	}
}

// fail records the first error and resets the writer: bufio keeps an error
// forever, and a transient failure must not silence the log for good.
func (a *AccessLog) fail(bw *bufio.Writer, err error) {
	if a.err == nil {
		a.err = err
	}
	bw.Reset(a.w)
}

// appendEntry appends e as one JSON object and a newline.
func appendEntry(b []byte, e *Entry) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
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
