package counter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lineCounter is a slog handler that counts records.
type lineCounter struct{ n atomic.Int64 }

func (l *lineCounter) Enabled(context.Context, slog.Level) bool  { return true }
func (l *lineCounter) Handle(context.Context, slog.Record) error { l.n.Add(1); return nil }
func (l *lineCounter) WithAttrs([]slog.Attr) slog.Handler        { return l }
func (l *lineCounter) WithGroup(string) slog.Handler             { return l }

// states records OnStateChange calls.
type states struct {
	mu   sync.Mutex
	seen []bool
	ch   chan bool
}

func newStates() *states { return &states{ch: make(chan bool, 16)} }

func (s *states) record(up bool) {
	s.mu.Lock()
	s.seen = append(s.seen, up)
	s.mu.Unlock()
	s.ch <- up
}

func (s *states) list() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.seen...)
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentAddr returns a loopback address that accepts connections and
// never answers, like a hung Redis.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// TestBreakerUnreachable: with nothing at the address, every decision is
// the configured fallback, at once, and the outage is logged once.
func TestBreakerUnreachable(t *testing.T) {
	for _, tt := range []struct {
		name string
		addr func(*testing.T) string
	}{
		{"refused", deadAddr},
		{"silent", silentAddr},
	} {
		for _, c := range []struct {
			mode FailureMode
			sync Sync
		}{{FailAllow, syncExact}, {FailDeny, syncExact}, {FailAllow, syncBatched}, {FailDeny, syncBatched}} {
			mode := c.mode
			t.Run(fmt.Sprintf("%s/deny=%v/batched=%v", tt.name, mode == FailDeny, c.sync == syncBatched), func(t *testing.T) {
				lines := &lineCounter{}
				st := newStates()
				var errs atomic.Int64
				r, err := NewRedis(RedisOptions{
					URL:           "redis://" + tt.addr(t),
					OnFailure:     mode,
					Sync:          c.sync,
					Logger:        slog.New(lines),
					OnStateChange: st.record,
					OnError:       func() { errs.Add(1) },
					ProbeMin:      time.Hour, // no probe within the test
				})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if r.Up() {
					t.Fatal("Up() with nothing answering")
				}
				if err := r.Ping(context.Background()); err == nil {
					t.Fatal("Ping succeeded")
				}
				req := limit("192.0.2.1", 5, time.Second, 5)
				for i := range 200 {
					start := time.Now()
					d := r.Take(context.Background(), req)
					if took := time.Since(start); took > 50*time.Millisecond {
						t.Fatalf("decision %d took %v", i, took)
					}
					if !d.Degraded || d.Allowed != (mode == FailAllow) {
						t.Fatalf("decision %d: %+v, want the fallback", i, d)
					}
					if mode == FailDeny && (d.Reason != reasonUnavailable || d.RetryAfter != time.Second) {
						t.Fatalf("deny fallback %+v, want reasonUnavailable with RetryAfter 1s", d)
					}
				}
				if got := st.list(); len(got) != 1 || got[0] {
					t.Errorf("OnStateChange calls %v, want [false]", got)
				}
				if n := lines.n.Load(); n != 1 {
					t.Errorf("%d log lines, want 1", n)
				}
				if errs.Load() != 1 {
					t.Errorf("OnError called %d times, want once (decisions make no calls)", errs.Load())
				}
			})
		}
	}
}

// redisServer runs a redis-server of the test's own on port.
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	cmd  *exec.Cmd
}

func newRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	_, p, _ := net.SplitHostPort(deadAddr(t))
	port, _ := strconv.Atoi(p)
	s := &redisServer{t: t, bin: bin, port: port}
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server this test started, by its PID.
func (s *redisServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// TestBreakerOutageAndRecovery: Redis dies under a working counter; the
// very next decision is the fallback and none is slow; when Redis is back
// the probe closes the breaker and shared limiting resumes.
func TestBreakerOutageAndRecovery(t *testing.T) {
	for _, mode := range []FailureMode{FailAllow, FailDeny} {
		t.Run(fmt.Sprintf("deny=%v", mode == FailDeny), func(t *testing.T) {
			srv := newRedisServer(t)
			srv.start()
			st := newStates()
			lines := &lineCounter{}
			r, err := NewRedis(RedisOptions{
				URL:           srv.url(),
				OnFailure:     mode,
				Logger:        slog.New(lines),
				OnStateChange: st.record,
				ProbeMin:      20 * time.Millisecond,
				ProbeMax:      100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			req := limit("192.0.2.2", 2, time.Hour, 2)
			for i, want := range []bool{true, true, false} {
				if d := r.Take(context.Background(), req); d.Allowed != want || d.Degraded {
					t.Fatalf("request %d: %+v, want allowed=%v", i, d, want)
				}
			}

			srv.stop()
			for i := range 50 {
				start := time.Now()
				d := r.Take(context.Background(), req)
				if took := time.Since(start); took > 50*time.Millisecond {
					t.Fatalf("redis down, decision %d took %v", i, took)
				}
				if !d.Degraded || d.Allowed != (mode == FailAllow) {
					t.Fatalf("redis down, decision %d: %+v, want the fallback", i, d)
				}
			}
			if up := <-st.ch; up {
				t.Fatal("first state change is up, want down")
			}

			srv.start()
			select {
			case up := <-st.ch:
				if !up {
					t.Fatal("second state change is down, want up")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the breaker did not close after Redis came back")
			}
			// The new Redis is empty: the bucket is full again, and limits.
			for i, want := range []bool{true, true, false} {
				if d := r.Take(context.Background(), req); d.Allowed != want || d.Degraded {
					t.Fatalf("after recovery, request %d: %+v, want allowed=%v", i, d, want)
				}
			}
			if got := st.list(); len(got) != 2 {
				t.Errorf("state changes %v, want [false true]", got)
			}
			if n := lines.n.Load(); n != 2 {
				t.Errorf("%d log lines, want 2 (down, up)", n)
			}
		})
	}
}

// TestBreakerToleratesLoneTimeouts: one slow answer does not switch a node
// to the fallback; three timeouts in a row, or one refused connection, do.
func TestBreakerToleratesLoneTimeouts(t *testing.T) {
	timeout := fmt.Errorf("read: %w", context.DeadlineExceeded)
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	newB := func() *breaker {
		return newBreaker(func(context.Context) error { return errors.New("down") },
			&RedisOptions{Logger: slog.New(&lineCounter{}), ProbeMin: time.Hour, ProbeMax: time.Hour})
	}
	b := newB()
	defer b.close()
	b.fail(timeout)
	b.fail(timeout)
	if !b.up() {
		t.Fatal("two timeouts opened the breaker")
	}
	b.succeeded()
	b.fail(timeout)
	b.fail(timeout)
	if !b.up() {
		t.Fatal("a success did not reset the count of timeouts")
	}
	b.fail(timeout)
	if b.up() {
		t.Fatal("three timeouts in a row left the breaker closed")
	}

	b2 := newB()
	defer b2.close()
	b2.fail(refused)
	if b2.up() {
		t.Fatal("a refused connection left the breaker closed")
	}
}

// TestBreakerProbeBackoff runs the probe on a fake clock: the first ping is
// 100ms after the breaker opens, the pauses double up to 2s, and a breaker
// that opens again after Redis came back starts from 100ms again.
func TestBreakerProbeBackoff(t *testing.T) {
	tests := []struct {
		name  string
		fails int // pings that fail before one succeeds
		want  []time.Duration
	}{
		{"answers at once", 0, []time.Duration{100 * time.Millisecond}},
		{"short outage", 2, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{"long outage", 8, []time.Duration{
			100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
			1600 * time.Millisecond, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var pauses []time.Duration
			var pings int
			o := RedisOptions{Logger: slog.New(&lineCounter{})}
			o.setDefaults()
			st := newStates()
			o.OnStateChange = st.record
			b := newBreaker(func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				pings++
				if pings <= tt.fails {
					return errors.New("connection refused")
				}
				return nil
			}, &o)
			b.wait = func(_ context.Context, d time.Duration) bool {
				mu.Lock()
				pauses = append(pauses, d)
				mu.Unlock()
				return true
			}
			defer b.close()
			for round := range 2 {
				mu.Lock()
				pauses, pings = nil, 0
				mu.Unlock()
				b.failNow(errors.New("connection refused"))
				if up := <-st.ch; up {
					t.Fatal("first state change is up, want down")
				}
				if up := <-st.ch; !up {
					t.Fatal("second state change is down, want up")
				}
				if !b.up() {
					t.Fatal("breaker still open after a ping succeeded")
				}
				mu.Lock()
				got := append([]time.Duration(nil), pauses...)
				mu.Unlock()
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("round %d: probe pauses = %v, want %v", round, got, tt.want)
				}
			}
		})
	}
}
