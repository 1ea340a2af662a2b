package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) lines() []string {
	s := strings.TrimSuffix(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// logOne writes e through a fresh AccessLog and returns the line.
func logOne(t *testing.T, e *Entry) string {
	t.Helper()
	var out syncBuffer
	a := NewAccessLog(&out)
	a.Log(e)
	if err := a.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	lines := out.lines()
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %q", len(lines), out.String())
	}
	return lines[0]
}

func decodeLine(t *testing.T, line string) map[string]any {
	t.Helper()
	if !json.Valid([]byte(line)) {
		t.Fatalf("line is not valid JSON: %s", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("decoding %s: %v", line, err)
	}
	return m
}

var start = time.Date(2026, 11, 3, 14, 5, 6, 123456789, time.FixedZone("CET", 3600))

func TestAccessLogLine(t *testing.T) {
	full := Entry{
		Time: start, RequestID: "01JD5Z", Route: "users", Method: "GET",
		Path: "/users/7", Status: 200, BytesIn: 12, BytesOut: 345,
		Duration: 1234567 * time.Nanosecond, Upstream: "users",
		Target: "http://127.0.0.1:9101", ClientIP: "203.0.113.9",
		Consumer: "acme", Error: "upstream timeout", UserAgent: "curl/8.5.0",
		Partial: []string{"orders", "recs"}, GRPCStatus: "5", Cache: "hit",
		Model: "gpt-4.1", InputTokens: 1200, OutputTokens: 34,
	}
	tests := []struct {
		name string
		e    Entry
		want map[string]any
	}{
		{
			name: "every field",
			e:    full,
			want: map[string]any{
				"time": "2026-11-03T13:05:06.123456789Z", "request_id": "01JD5Z",
				"route": "users", "method": "GET", "path": "/users/7",
				"status": 200.0, "bytes_in": 12.0, "bytes_out": 345.0,
				"duration_ms": 1.234, "upstream": "users",
				"target": "http://127.0.0.1:9101", "client_ip": "203.0.113.9",
				"consumer": "acme", "error": "upstream timeout", "user_agent": "curl/8.5.0",
				"partial": []any{"orders", "recs"}, "grpc_status": "5", "cache": "hit",
				"model": "gpt-4.1", "input_tokens": 1200.0, "output_tokens": 34.0,
			},
		},
		{
			name: "unmatched anonymous request",
			e: Entry{Time: start, RequestID: "01JD60", Method: "POST", Path: "/nope",
				Status: 404, ClientIP: "198.51.100.4"},
			want: map[string]any{
				"time": "2026-11-03T13:05:06.123456789Z", "request_id": "01JD60",
				"route": "", "method": "POST", "path": "/nope",
				"status": 404.0, "bytes_in": 0.0, "bytes_out": 0.0,
				"duration_ms": 0.0, "upstream": "", "target": "", "client_ip": "198.51.100.4",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := decodeLine(t, logOne(t, &tt.e))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("line mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccessLogZeroTimeIsNow(t *testing.T) {
	before := time.Now().Add(-time.Second)
	got := decodeLine(t, logOne(t, &Entry{Path: "/"}))
	ts, err := time.Parse(time.RFC3339Nano, got["time"].(string))
	if err != nil {
		t.Fatalf("time %q: %v", got["time"], err)
	}
	if ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("time = %v, want about now", ts)
	}
}

func TestAccessLogNeverLeaksQuery(t *testing.T) {
	const secret = "s3cr3t-key"
	line := logOne(t, &Entry{
		Path:   "/users/7?api_key=" + secret,
		Target: "http://127.0.0.1:9101/?token=" + secret,
		Error:  `Get "http://127.0.0.1:9101/users/7?api_key=` + secret + `": dial tcp 127.0.0.1:9101: connect: connection refused`,
	})
	if strings.Contains(line, secret) {
		t.Errorf("line leaks the query: %s", line)
	}
	got := decodeLine(t, line)
	if got["path"] != "/users/7" {
		t.Errorf("path = %q, want /users/7", got["path"])
	}
	if want := `Get "http://127.0.0.1:9101/users/7?": dial tcp 127.0.0.1:9101: connect: connection refused`; got["error"] != want {
		t.Errorf("error = %q, want %q", got["error"], want)
	}
}

func TestAccessLogHostileValues(t *testing.T) {
	tests := []struct {
		name string
		path string
		want string
	}{
		{"quotes", `/a"b"}`, `/a"b"}`},
		{"newline injection", "/a\n{\"status\":200}", "/a\n{\"status\":200}"},
		{"backslash", `/a\"`, `/a\"`},
		{"control chars", "/a\x00\x1b[31m", "/a\x00\x1b[31m"},
		{"invalid utf8", "/a\xff\xfeb", "/a\ufffd\ufffdb"},
		{"line separator", "/a\u2028b", "/a\u2028b"},
		{"long path capped", "/" + strings.Repeat("x", 10000), "/" + strings.Repeat("x", maxPathBytes-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			line := logOne(t, &Entry{Path: tt.path, UserAgent: tt.path, Method: "GET"})
			got := decodeLine(t, line)
			if got["path"] != tt.want {
				t.Errorf("path = %q, want %q", got["path"], tt.want)
			}
			if ua, _ := got["user_agent"].(string); !strings.HasPrefix(tt.want, ua) || len(ua) > maxUserAgentBytes {
				t.Errorf("user_agent = %q, want a prefix of %q of at most %d bytes", ua, tt.want, maxUserAgentBytes)
			}
		})
	}
}

func TestAccessLogCloseFlushesEverything(t *testing.T) {
	var out syncBuffer
	// An hour-long interval: only Close can have flushed.
	a := NewAccessLog(&out, withFlushInterval(time.Hour))
	const n = 3000
	for i := range n {
		a.Log(&Entry{Time: start, RequestID: "r", Path: "/orders", Status: 200 + i%3})
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := len(out.lines()) + int(a.Dropped()); got != n {
		t.Errorf("lines written + dropped = %d, want %d", got, n)
	}
	if a.Dropped() != 0 {
		t.Errorf("Dropped() = %d with a fast writer, want 0", a.Dropped())
	}
	for i, l := range out.lines() {
		decodeLine(t, l)
		if t.Failed() {
			t.Fatalf("line %d broken", i)
		}
	}
	before := out.String()
	a.Log(&Entry{Path: "/after-close"})
	if err := a.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if out.String() != before {
		t.Error("Log after Close wrote a line")
	}
}

func TestAccessLogFlushesPeriodically(t *testing.T) {
	var out syncBuffer
	a := NewAccessLog(&out, withFlushInterval(10*time.Millisecond))
	defer a.Close()
	a.Log(&Entry{Path: "/users/7"})
	deadline := time.Now().Add(5 * time.Second)
	for len(out.lines()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("line not flushed without Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Past flushBytes of pending lines the writer runs before its tick.
func TestAccessLogWritesEarlyWhenMuchIsPending(t *testing.T) {
	var out syncBuffer
	a := NewAccessLog(&out, withFlushInterval(time.Hour))
	defer a.Close()
	n := 0
	for written := 0; written < flushBytes; n++ {
		a.Log(&Entry{Time: start, RequestID: "r", Path: "/orders/" + strconv.Itoa(n), Status: 200})
		written += 150 // well under a line's length: enough lines for sure
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.lines()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines pending under an hour's flush interval: none written", n)
		}
		time.Sleep(time.Millisecond)
	}
	for i, l := range out.lines() {
		decodeLine(t, l)
		if t.Failed() {
			t.Fatalf("line %d broken", i)
		}
	}
}

// blockingWriter blocks every Write until release is closed, and reports
// the first Write on entered.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	out     syncBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return w.out.Write(p)
}

func TestAccessLogDropsWhenWriterBlocks(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	m := NewMetrics()
	const queue = 4
	a := NewAccessLog(w, withQueueSize(queue), withFlushInterval(time.Millisecond), WithMetrics(m))
	a.Log(&Entry{Path: "/first"})
	select {
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("writer never called")
	}

	// The writer goroutine is stuck in Write: the queue fills, then lines drop.
	const n = 100
	begin := time.Now()
	for range n {
		a.Log(&Entry{Path: "/burst"})
	}
	if el := time.Since(begin); el > time.Second {
		t.Errorf("%d Log calls took %v with a blocked writer", n, el)
	}
	if got, want := a.Dropped(), uint64(n-queue); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
	got, _ := scrape(t, m)
	if want := strconv.Itoa(n - queue); got["gantry_access_log_dropped_total"] != want {
		t.Errorf("gantry_access_log_dropped_total = %q, want %s", got["gantry_access_log_dropped_total"], want)
	}

	close(w.release)
	if err := a.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := len(w.out.lines()); got != 1+queue {
		t.Errorf("wrote %d lines, want %d", got, 1+queue)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestAccessLogReportsWriteError(t *testing.T) {
	errDisk := errors.New("disk full")
	a := NewAccessLog(failingWriter{errDisk})
	a.Log(&Entry{Path: "/users/7"})
	if err := a.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close() = %v, want %v", err, errDisk)
	}
}

func TestNilAccessLog(t *testing.T) {
	var a *AccessLog
	a.Log(&Entry{Path: "/"})
}

func TestEntryFrom(t *testing.T) {
	r := httptest.NewRequest("DELETE", "http://api.example.com/users/7?api_key=s3cret", nil)
	r.Header.Set("User-Agent", "orders-service/1.2")
	r.Header.Set("Authorization", "Bearer eyJhbGciOi")
	x := &pipeline.Exchange{
		ID: "01JD5Z", Start: start, ClientIP: "203.0.113.9", Path: "/users/7",
		RouteName: "users", Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro"},
		Upstream: "users", Target: "http://127.0.0.1:9101", Status: 504,
		BytesIn: 3, BytesOut: 120, Err: errors.New("upstream timeout"),
		GRPCStatus: "4",
	}
	got := EntryFrom(x, r, 30*time.Second)
	want := Entry{
		Time: start, RequestID: "01JD5Z", Route: "users", Method: "DELETE",
		Path: "/users/7", Status: 504, BytesIn: 3, BytesOut: 120,
		Duration: 30 * time.Second, Upstream: "users", Target: "http://127.0.0.1:9101",
		ClientIP: "203.0.113.9", Consumer: "acme", Error: "upstream timeout",
		UserAgent: "orders-service/1.2", GRPCStatus: "4",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EntryFrom mismatch (-want +got):\n%s", diff)
	}
	line := logOne(t, &got)
	for _, leak := range []string{"s3cret", "eyJhbGciOi"} {
		if strings.Contains(line, leak) {
			t.Errorf("line leaks %q: %s", leak, line)
		}
	}
}
