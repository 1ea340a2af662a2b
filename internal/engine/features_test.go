package engine

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/wire"
)

// serveBoth runs fn against the engine and against net/http's server, each
// with handler h and the settings tune gives them.
func serveBoth(t *testing.T, h http.Handler, tune func(*Server, *http.Server), fn func(t *testing.T, addr string, engine bool)) {
	t.Run("engine", func(t *testing.T) {
		s, std := &Server{Handler: h}, &http.Server{}
		if tune != nil {
			tune(s, std)
		}
		fn(t, startEngine(t, s), true)
	})
	t.Run("net/http", func(t *testing.T) {
		s, std := &Server{}, &http.Server{Handler: h, ErrorLog: quietLog()}
		if tune != nil {
			tune(s, std)
		}
		fn(t, startStd(t, std), false)
	})
}

// TestFlushMidBody: a flushed chunk reaches the client while the handler
// still runs.
func TestFlushMidBody(t *testing.T) {
	release := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "second")
	})
	serveBoth(t, h, nil, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send(getA)
		cl.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		res, err := http.ReadResponse(cl.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.TransferEncoding) == 0 {
			t.Errorf("flushed answer not chunked: %v", res.Header)
		}
		first := make([]byte, 5)
		if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != "first" {
			t.Fatalf("first chunk before the handler returned: %q, %v", first, err)
		}
		release <- struct{}{}
		rest, err := io.ReadAll(res.Body)
		if err != nil || string(rest) != "second" {
			t.Errorf("rest %q, %v", rest, err)
		}
	})
}

// TestExpectContinue: 100 Continue goes out when the handler reads the
// body, not before; a handler that never reads gets no 100 and the
// connection ends after its answer.
func TestExpectContinue(t *testing.T) {
	var reads atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			io.WriteString(w, "not read")
			return
		}
		time.Sleep(50 * time.Millisecond)
		reads.Store(true)
		echoBody(w, r)
	})
	serveBoth(t, h, nil, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		a := cl.mustRead("POST")
		if a.status != 100 {
			t.Fatalf("first answer %d, want 100", a.status)
		}
		if !reads.Load() {
			t.Errorf("100 Continue before the handler read the body")
		}
		cl.send("hello")
		checkAnswer(t, 1, cl.mustRead("POST"), want{status: 200, framing: "length", body: "hello"})

		cl = dial(t, addr)
		cl.send("POST /ignore HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		checkAnswer(t, 0, cl.mustRead("POST"), want{status: 200, framing: "length", body: "not read", close: true})
		// net/http says close but waits for the client to close
		// first; the engine closes.
		if engine && !cl.closed(2*time.Second) {
			t.Errorf("connection kept though the body was never sent")
		}
	})
}

// TestHijack: the handler gets the connection with the bytes the server
// had already read after the request.
func TestHijack(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		extra := make([]byte, 5)
		io.ReadFull(brw, extra)
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\ngot:")
		brw.Write(extra)
		brw.Flush()
	})
	serveBoth(t, h, nil, func(t *testing.T, addr string, engine bool) {
		got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nEXTRA")
		if !strings.HasPrefix(got, "HTTP/1.1 101 ") || !strings.HasSuffix(got, "\r\n\r\ngot:EXTRA") {
			t.Errorf("got %q", got)
		}
	})
}

// TestAbortHandler: panic(http.ErrAbortHandler) after part of the answer
// went out cuts the answer and closes the connection.
func TestAbortHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("z", 10000)))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	serveBoth(t, h, nil, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send(getA)
		a, err := cl.read("GET")
		if err == nil {
			t.Fatalf("answer read whole (%d bytes), want it cut", len(a.body))
		}
		if a.status != 200 || len(a.body) < 4096 {
			t.Errorf("status %d, %d bytes before the cut", a.status, len(a.body))
		}
		if !cl.closed(2 * time.Second) {
			t.Errorf("connection open after an aborted answer")
		}
	})
}

// TestClientGone: a client that goes away cancels the context of a
// request that runs long.
func TestClientGone(t *testing.T) {
	canceled := make(chan time.Time, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			canceled <- time.Now()
		case <-time.After(5 * time.Second):
			canceled <- time.Time{}
		}
	})
	serveBoth(t, h, nil, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send(getA)
		time.Sleep(20 * time.Millisecond)
		gone := time.Now()
		cl.c.Close()
		at := <-canceled
		if at.IsZero() {
			t.Fatal("context not canceled within 5s of the client leaving")
		}
		if d := at.Sub(gone); d > watchAfter+500*time.Millisecond {
			t.Errorf("context canceled %v after the client left", d)
		}
	})
}

// TestClientGoneAfterBody: the same once the request's body was read.
func TestClientGoneAfterBody(t *testing.T) {
	canceled := make(chan bool, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			canceled <- true
		case <-time.After(3 * time.Second):
			canceled <- false
		}
	})
	serveBoth(t, h, nil, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
		time.Sleep(150 * time.Millisecond)
		cl.c.Close()
		if !<-canceled {
			t.Error("context not canceled after the client left")
		}
	})
}

// TestLongHandlerKeepsPipelined: the watch of a long request does not eat
// a pipelined next request, nor cancel the first.
func TestLongHandlerKeepsPipelined(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
				w.WriteHeader(499)
				return
			case <-time.After(3 * watchAfter):
			}
		}
		io.WriteString(w, r.URL.Path)
	})
	serveBoth(t, h, nil, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
		time.Sleep(2 * watchAfter)
		cl.send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
		checkAnswer(t, 0, cl.mustRead("GET"), want{status: 200, framing: "length", body: "/slow"})
		checkAnswer(t, 1, cl.mustRead("GET"), want{status: 200, framing: "length", body: "/next"})
	})
}

// TestReadHeaderTimeout: a header block that does not end in time closes
// the connection, with no answer.
func TestReadHeaderTimeout(t *testing.T) {
	tune := func(s *Server, std *http.Server) {
		s.ReadHeaderTimeout, std.ReadHeaderTimeout = 200*time.Millisecond, 200*time.Millisecond
	}
	serveBoth(t, http.HandlerFunc(hello), tune, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		start := time.Now()
		cl.send("GET / HTTP/1.1\r\nHost: a\r\n")
		time.Sleep(50 * time.Millisecond)
		cl.send("X-Slow: 1\r\n")
		cl.closedNoSooner(start, 150*time.Millisecond, 2*time.Second, "header timeout")
	})
}

// TestIdleTimeout: a kept-alive connection with no next request closes.
func TestIdleTimeout(t *testing.T) {
	tune := func(s *Server, std *http.Server) {
		s.IdleTimeout, std.IdleTimeout = 200*time.Millisecond, 200*time.Millisecond
	}
	serveBoth(t, http.HandlerFunc(hello), tune, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send(getA)
		checkAnswer(t, 0, cl.mustRead("GET"), want{status: 200, framing: "length", body: "hello"})
		cl.closedNoSooner(time.Now(), 150*time.Millisecond, 2*time.Second, "idle timeout")
	})
}

// TestWriteTimeout: an answer still being written past WriteTimeout fails
// the handler's writes, and the client sees it cut.
func TestWriteTimeout(t *testing.T) {
	werr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		chunk := []byte(strings.Repeat("w", 64<<10))
		var err error
		for i := 0; i < 64 && err == nil; i++ {
			_, err = w.Write(chunk)
		}
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		werr <- err
	})
	tune := func(s *Server, std *http.Server) {
		s.WriteTimeout, std.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	}
	serveBoth(t, h, tune, func(t *testing.T, addr string, engine bool) {
		cl := dial(t, addr)
		cl.send(getA)
		if err := <-werr; err == nil {
			t.Error("writes past WriteTimeout succeeded")
		}
		if a, err := cl.read("GET"); err == nil {
			t.Errorf("whole answer read (%d bytes) past WriteTimeout", len(a.body))
		}
	})
}

// TestShutdown: Shutdown closes idle connections at once, lets an active
// one finish its answer and closes it after, and refuses new ones.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, r.URL.Path)
	})
	s := &Server{Handler: h}
	addr := startEngine(t, s)
	idle := dial(t, addr)
	idle.send(getA)
	idle.mustRead("GET")
	active := dial(t, addr)
	active.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if !idle.closed(time.Second) {
		t.Error("idle connection not closed by Shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a request runs", err)
	case <-time.After(100 * time.Millisecond):
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.SetReadDeadline(time.Now().Add(time.Second))
		io.WriteString(c, getA)
		if b, _ := bufio.NewReader(c).ReadByte(); b != 0 {
			t.Error("a new connection is served after Shutdown")
		}
		c.Close()
	}
	close(release)
	a := active.mustRead("GET")
	if a.status != 200 || a.body != "/slow" {
		t.Errorf("active request's answer: %d %q", a.status, a.body)
	}
	t.Logf("active answer during Shutdown: close=%v header %v", a.close, a.header)
	if !active.closed(time.Second) {
		t.Error("active connection not closed after its answer")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("Shutdown did not return after the last answer")
	}
}

// TestShutdownDeadline: Shutdown gives up when its context ends.
func TestShutdownDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	})}
	addr := startEngine(t, s)
	cl := dial(t, addr)
	cl.send(getA)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
}

// TestH2CPreface: a connection that opens with the HTTP/2 preface goes to
// H2C with every byte, the preface included, even when it comes in
// pieces.
func TestH2CPreface(t *testing.T) {
	for _, parts := range [][]string{
		{h2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"},
		{"PRI * HTTP/2.0\r\n", "\r\nSM\r\n\r\n", "frames"},
		{"P", "RI * HTTP/2.0\r\n\r\nSM\r\n\r", "\n"},
	} {
		got := make(chan string, 1)
		s := &Server{Handler: http.HandlerFunc(hello), H2C: func(c net.Conn) {
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			b, _ := io.ReadAll(c)
			got <- string(b)
		}}
		addr := startEngine(t, s)
		cl := dial(t, addr)
		for _, p := range parts {
			cl.send(p)
			time.Sleep(20 * time.Millisecond)
		}
		cl.c.(*net.TCPConn).CloseWrite()
		want := strings.Join(parts, "")
		if g := <-got; g != want {
			t.Errorf("H2C got %q, want %q", g, want)
		}
	}
}

// TestH2CNil: without H2C the preface is refused with 505; a request line
// that only starts like the preface is read as HTTP/1.x.
func TestH2CNil(t *testing.T) {
	addr := startEngine(t, &Server{Handler: http.HandlerFunc(hello)})
	if got := exchange(t, addr, h2Preface); !strings.HasPrefix(got, "HTTP/1.1 505 ") {
		t.Errorf("preface without H2C: %q", got)
	}
	if got := exchange(t, addr, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 505 ") {
		t.Errorf("not quite the preface: %q", got)
	}
	if got := exchange(t, addr, "PRIX / HTTP/1.1\r\nHost: a\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("PRIX method: %q", got)
	}
}

// TestContextStart: the Context hook gets the time the engine began to
// read the request, before its header was complete, and the context it
// returns is the request's.
func TestContextStart(t *testing.T) {
	type key struct{}
	starts := make(chan time.Time, 1)
	var handled time.Time
	s := &Server{
		Context: func(ctx context.Context, start time.Time, _ wire.Names) context.Context {
			starts <- start
			return context.WithValue(ctx, key{}, "mine")
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handled = time.Now()
			if r.Context().Value(key{}) != "mine" {
				w.WriteHeader(http.StatusTeapot)
			}
		}),
	}
	c := dial(t, startEngine(t, s))
	c.send("GET / HTTP/1.1\r\n")
	time.Sleep(60 * time.Millisecond)
	c.send("Host: a\r\n\r\n")
	if a := c.mustRead(http.MethodGet); a.status != http.StatusOK {
		t.Fatalf("status %d: the request's context is not the hook's", a.status)
	}
	if d := handled.Sub(<-starts); d < 50*time.Millisecond {
		t.Fatalf("start was %v before the handler ran; want it before the header's second half (60ms)", d)
	}
}

// TestContextNames: the hook is told what the request's field names hold
// that the hygiene acts on, whatever case the client sent them in, so the
// server can skip its walk over a header that holds none.
func TestContextNames(t *testing.T) {
	got := make(chan wire.Names, 1)
	s := &Server{
		Context: func(ctx context.Context, _ time.Time, names wire.Names) context.Context {
			got <- names
			return ctx
		},
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
	}
	addr := startEngine(t, s)
	class := func(names ...string) wire.Names {
		n := wire.NamesKnown
		for _, k := range names {
			n |= wire.NameClass(k)
		}
		return n
	}
	for _, tc := range []struct {
		fields string
		want   wire.Names
	}{
		{"", wire.NamesKnown},
		{"Accept: */*\r\nuser-agent: x\r\n", wire.NamesKnown},
		{"x-forwarded-for: 1.2.3.4\r\n", class("X-Forwarded-For")},
		{"X_Api_Key: k\r\nAccept: */*\r\n", class("X_Api_Key")},
		{"CONNECTION: close\r\n", class("Connection")},
		{"Upgrade: h2c\r\nProxy: p\r\nX-Real-IP: 1\r\n", class("Upgrade", "Proxy", "X-Real-Ip")},
	} {
		c := dial(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: a\r\n" + tc.fields + "\r\n")
		c.mustRead(http.MethodGet)
		if n := <-got; n != tc.want {
			t.Errorf("fields %q: the hook was told %08b, want %08b", tc.fields, n, tc.want)
		}
	}
}

// deadlineCounter counts the read deadlines set on the connections it
// accepts, and keeps the last one.
type deadlineCounter struct {
	net.Listener
	rec *deadlines
}

type deadlines struct {
	sets atomic.Int64
	last atomic.Pointer[time.Time]
}

func (l deadlineCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countedConn{c, l.rec}, nil
}

type countedConn struct {
	net.Conn
	rec *deadlines
}

func (c countedConn) SetReadDeadline(t time.Time) error {
	c.rec.sets.Add(1)
	c.rec.last.Store(&t)
	return c.Conn.SetReadDeadline(t)
}

// startCounted serves s on a loopback listener whose connections record
// their read deadlines in rec.
func startCounted(t *testing.T, s *Server, rec *deadlines) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(deadlineCounter{ln, rec}); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

// TestIdleDeadlineArmedOnce: a kept-alive connection's idle read deadline
// is set once, not once per request, while the one set stays within the
// idle timeout and its slack; the connection still closes after it.
func TestIdleDeadlineArmedOnce(t *testing.T) {
	var rec deadlines
	s := &Server{Handler: http.HandlerFunc(hello), IdleTimeout: 400 * time.Millisecond}
	cl := dial(t, startCounted(t, s, &rec))
	const n = 20
	for range n {
		cl.send(getA)
		checkAnswer(t, 0, cl.mustRead("GET"), want{status: 200, framing: "length", body: "hello"})
	}
	// The first request's wait (no header timeout: none) and one idle
	// deadline for the other nineteen, all within its 50 ms of slack on
	// any machine that answers a request in under 2 ms; allow one more.
	if got := rec.sets.Load(); got > 3 {
		t.Errorf("%d read deadlines set for %d requests, want at most 3", got, n)
	}
	cl.closedNoSooner(time.Now(), 350*time.Millisecond, 3*time.Second, "idle timeout")
}

// TestIdleDeadlineAfterWatch: a handler that runs long enough to be
// watched has its connection's read deadline cleared by the watch, also
// when the watch ends by itself (the next request arrived): the idle wait
// after it must set a deadline again, though the one armed before is
// still within its slack (4 s idle: half a second).
func TestIdleDeadlineAfterWatch(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * watchAfter)
		}
		io.WriteString(w, "hello")
	})
	var rec deadlines
	s := &Server{Handler: h, IdleTimeout: 4 * time.Second}
	cl := dial(t, startCounted(t, s, &rec))
	cl.send(getA)
	cl.mustRead("GET")
	// The next request arrives while /slow is watched: the watch's read
	// returns with it, and the watch ends on its own.
	cl.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(watchAfter + watchAfter/2)
	cl.send(getA)
	cl.mustRead("GET")
	cl.mustRead("GET")
	deadline := time.Now().Add(2 * time.Second)
	for {
		if last := rec.last.Load(); last != nil && time.Until(*last) > 3*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no idle read deadline after a watched request (last set: %v)", rec.last.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// armIdle keeps the deadline it set while that stays within [now + d,
// now + d + slack], and sets now + d + slack otherwise: when time has
// caught up with it, and when the idle timeout became shorter.
func TestArmIdleWindow(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var rec deadlines
	c := &conn{rwc: countedConn{a, &rec}}
	t0 := time.Now()
	const d = 8 * time.Second // slack: 1 s
	steps := []struct {
		now  time.Duration // after t0
		d    time.Duration
		sets int64 // deadlines set so far
		want time.Duration
	}{
		{0, d, 1, 9 * time.Second},
		{500 * time.Millisecond, d, 1, 9 * time.Second},
		{time.Second, d, 1, 9 * time.Second},
		{1100 * time.Millisecond, d, 2, 10100 * time.Millisecond},
		{1200 * time.Millisecond, 2 * time.Second, 3, 3450 * time.Millisecond},
	}
	for i, s := range steps {
		c.armIdle(t0.Add(s.now), s.d)
		if got := rec.sets.Load(); got != s.sets {
			t.Fatalf("step %d: %d deadlines set, want %d", i, got, s.sets)
		}
		if got := rec.last.Load().Sub(t0); got != s.want {
			t.Fatalf("step %d: deadline t0+%v, want t0+%v", i, got, s.want)
		}
	}
	c.setReadDeadline(time.Time{})
	c.armIdle(t0.Add(1200*time.Millisecond), 2*time.Second)
	if got := rec.sets.Load(); got != 5 {
		t.Errorf("after another deadline: %d set, want the idle one armed again", got)
	}
}
