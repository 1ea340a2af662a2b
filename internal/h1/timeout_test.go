package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		drain(c)
	})
	tr := newTransport(t, &Transport{ResponseHeaderTimeout: 50 * time.Millisecond})
	if d := sendTimesOut(t, tr, srv.url()); d > wait {
		t.Errorf("Send() took %v", d)
	}
}

// sendTimesOut sends a GET to url through tr, wants it to fail with a
// timeout (a net.Error), and returns how long that took.
func sendTimesOut(t *testing.T, tr *Transport, url string) time.Duration {
	t.Helper()
	start := time.Now()
	res, err := tr.Send(context.Background(), newRequest(t, "GET", url, ""), nil)
	if err == nil {
		res.Body.Close()
		t.Fatal("Send() succeeded, want a timeout")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Send() error = %v, want a net.Error with Timeout()", err)
	}
	return time.Since(start)
}

// TestResponseHeaderTimeoutBody checks that the header timeout does not
// bound the body: a slow stream after a quick header is fine.
func TestResponseHeaderTimeoutBody(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
		<-next
		io.WriteString(c, "cd")
		drain(c)
	})
	tr := newTransport(t, &Transport{ResponseHeaderTimeout: 20 * time.Millisecond})
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.url(), ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	defer res.Body.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatalf("reading the first part: %v", err)
	}
	// Let the header timeout pass, had it stayed on the connection.
	time.Sleep(60 * time.Millisecond)
	close(next)
	if b, err := io.ReadAll(res.Body); err != nil || string(b) != "cd" {
		t.Errorf("rest of body = %q, %v; want cd", b, err)
	}
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d, want 1", n)
	}
}

// hangingServer reads a request, reports it on arrived, then waits for the
// client to close and reports that on gone. Answer, when not empty, is
// written before waiting.
func hangingServer(t *testing.T, answer string) (*rawServer, chan struct{}, chan struct{}) {
	arrived, gone := make(chan struct{}, 4), make(chan struct{}, 4)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		arrived <- struct{}{}
		io.WriteString(c, answer)
		drain(c)
		gone <- struct{}{}
	})
	return srv, arrived, gone
}

// The context of a request is watched only once it ran for watchAfter;
// cancels are tested before and after that point.
var cancelAfter = []struct {
	name  string
	delay time.Duration
}{
	{"at once", 0},
	{"once watched", 3 * watchAfter},
}

func TestCancelWaitingForHeader(t *testing.T) {
	t.Parallel()
	for _, tt := range cancelAfter {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, arrived, gone := hangingServer(t, "")
			tr := newTransport(t, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				res, err := tr.Send(ctx, newRequest(t, "GET", srv.url(), ""), nil)
				if err == nil {
					res.Body.Close()
				}
				errc <- err
			}()
			recv(t, arrived, "request")
			time.Sleep(tt.delay)
			start := time.Now()
			cancel()
			if err := recv(t, errc, "Send() return after cancel"); !errors.Is(err, context.Canceled) {
				t.Errorf("Send() error = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Send() returned %v after cancel", d)
			}
			recv(t, gone, "connection close")
			if n := tr.IdleConns(); n != 0 {
				t.Errorf("IdleConns() = %d, want 0", n)
			}
		})
	}
}

func TestCancelReadingBody(t *testing.T) {
	t.Parallel()
	for _, tt := range cancelAfter {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _, gone := hangingServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
			tr := newTransport(t, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := tr.Send(ctx, newRequest(t, "GET", srv.url(), ""), nil)
			if err != nil {
				t.Fatalf("Send() error: %v", err)
			}
			defer res.Body.Close()
			buf := make([]byte, 10)
			if _, err := io.ReadFull(res.Body, buf); err != nil {
				t.Fatalf("reading the first bytes: %v", err)
			}
			// A Read blocked on the upstream returns once the context is
			// done.
			errc := make(chan error, 1)
			go func() {
				_, err := res.Body.Read(buf)
				errc <- err
			}()
			time.Sleep(tt.delay)
			start := time.Now()
			cancel()
			if err := recv(t, errc, "Read return after cancel"); !errors.Is(err, context.Canceled) {
				t.Errorf("Read() error = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Read() returned %v after cancel", d)
			}
			if _, err := res.Body.Read(buf); err == nil {
				t.Error("second Read() after cancel succeeded")
			}
			recv(t, gone, "connection close")
		})
	}
}

func TestContextDeadline(t *testing.T) {
	t.Parallel()
	srv, _, _ := hangingServer(t, "")
	tr := newTransport(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*watchAfter/2)
	defer cancel()
	start := time.Now()
	res, err := tr.Send(ctx, newRequest(t, "GET", srv.url(), ""), nil)
	if err == nil {
		res.Body.Close()
		t.Fatal("Send() succeeded, want the context's deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send() error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send() took %v", d)
	}
}

// TestSlowAnswer checks that an answer slower than the window after which
// the context is watched is waited for, up to ResponseHeaderTimeout for
// the header and without bound for the body.
func TestSlowAnswer(t *testing.T) {
	t.Parallel()
	slow := 3 * watchAfter
	tests := []struct {
		name          string
		headerTimeout time.Duration
		headerDelay   time.Duration
		bodyDelay     time.Duration
	}{
		{"slow header, no timeout", 0, slow, 0},
		{"slow header within timeout", 10 * slow, slow, 0},
		{"slow body, no timeout", 0, 0, slow},
		{"slow body after a quick header", watchAfter / 2, 0, slow},
		{"slow header and body", 10 * slow, slow, slow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					// Latency of the upstream, not synchronisation.
					time.Sleep(tt.headerDelay)
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
					time.Sleep(tt.bodyDelay)
					io.WriteString(c, "cd")
				}
			})
			tr := newTransport(t, &Transport{ResponseHeaderTimeout: tt.headerTimeout})
			for range 2 {
				if code, body := fetch(t, tr, newRequest(t, "GET", srv.url(), "")); code != 200 || body != "abcd" {
					t.Errorf("fetch() = %d %q, want 200 abcd", code, body)
				}
			}
			if n := srv.conns.Load(); n != 1 {
				t.Errorf("server accepted %d connections, want 1", n)
			}
		})
	}
}

// TestResponseHeaderTimeoutLong checks that a header timeout longer than
// the window after which the context is watched is the one that counts.
func TestResponseHeaderTimeoutLong(t *testing.T) {
	t.Parallel()
	srv, _, _ := hangingServer(t, "")
	timeout := 3 * watchAfter
	tr := newTransport(t, &Transport{ResponseHeaderTimeout: timeout})
	if d := sendTimesOut(t, tr, srv.url()); d < timeout || d > wait {
		t.Errorf("Send() timed out after %v, want about %v", d, timeout)
	}
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen() error: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tr := newTransport(t, &Transport{DialTimeout: wait})
	start := time.Now()
	res, err := tr.Send(context.Background(), newRequest(t, "GET", "http://"+addr+"/", ""), nil)
	if err == nil {
		res.Body.Close()
		t.Fatal("Send() to a closed port succeeded")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("Send() error = %v, want a dial error", err)
	}
	if d := time.Since(start); d > wait/2 {
		t.Errorf("Send() took %v to fail", d)
	}
}

func TestDialCanceled(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := newTransport(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body := &closeTracker{}
	req := newRequest(t, "POST", srv.URL, "x")
	req.Body = body
	if _, err := tr.Send(ctx, req, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Send() error = %v, want context.Canceled", err)
	}
	if !body.closed.Load() {
		t.Error("Send() left the request body open")
	}
}

// TestHeaderDeadlineOnIdleConn: an answer read whole with the header
// leaves the header deadline on the connection; it must not fail the
// connection's next use, checked or not.
func TestHeaderDeadlineOnIdleConn(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	clock := newFakeClock()
	tr := newTransport(t, &Transport{ResponseHeaderTimeout: 20 * time.Millisecond, now: clock.now})
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL, ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	// Past the header deadline, the buffered body still reads.
	time.Sleep(50 * time.Millisecond)
	if b, err := io.ReadAll(res.Body); err != nil || string(b) != "ok" {
		t.Fatalf("body = %q, %v; want ok", b, err)
	}
	res.Body.Close()
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	time.Sleep(50 * time.Millisecond)
	// Idle long enough to be checked before use.
	clock.advance(2 * time.Second)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

// TestCanceledSendsNothing: a request whose context is already done must
// not reach the upstream (net/http checks before it sends): a client that
// went away must not place an order, even with an idle connection at hand.
func TestCanceledSendsNothing(t *testing.T) {
	t.Parallel()
	var orders atomic.Int32
	done := make(chan struct{}, 64)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		defer func() { done <- struct{}{} }()
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			if req.Method == "POST" {
				orders.Add(1)
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	clock := newFakeClock()
	tr := newTransport(t, &Transport{now: clock.now})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		fetch(t, tr, newRequest(t, "GET", srv.url(), ""))
		res, err := tr.Send(ctx, newRequest(t, "POST", srv.url()+"/v1/orders", `{"sku":"A-1"}`), nil)
		if err == nil {
			res.Body.Close()
			t.Error("Send() with a canceled context succeeded")
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("Send() error = %v, want context.Canceled", err)
		}
	}
	tr.CloseIdleConnections()
	for range srv.conns.Load() {
		recv(t, done, "connection end")
	}
	if n := orders.Load(); n != 0 {
		t.Errorf("upstream received %d of 20 canceled POSTs, want 0", n)
	}
}

// TestBoundsAfterQuickAnswers: a connection that just carried quick
// answers keeps the deadline of its window when it is still good for half
// a window (window); a later request's shorter bound must still hold, and
// a longer one must not be cut by the kept window.
func TestBoundsAfterQuickAnswers(t *testing.T) {
	t.Parallel()
	const quick = 5
	tests := []struct {
		name          string
		headerTimeout time.Duration
		ctxTimeout    time.Duration
		delay         time.Duration // of the last answer; 0: it never comes
		min, max      time.Duration // the last Send's duration
	}{
		{"header timeout under half a window", watchAfter / 4, 0, 0, watchAfter / 4, watchAfter * 3 / 4},
		{"context deadline under half a window", 0, watchAfter / 4, 0, watchAfter / 4, watchAfter * 3 / 4},
		{"header timeout over the window", 3 * watchAfter, 0, 0, 3 * watchAfter, wait},
		{"answer slower than the window", 0, 0, 2 * watchAfter, 2 * watchAfter, wait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				for i := 0; ; i++ {
					if _, err := readRequest(br); err != nil {
						return
					}
					if i == quick {
						if tt.delay == 0 {
							drain(c)
							return
						}
						time.Sleep(tt.delay) // the upstream's latency
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			tr := newTransport(t, &Transport{ResponseHeaderTimeout: tt.headerTimeout})
			for range quick {
				if code, body := fetch(t, tr, newRequest(t, "GET", srv.url(), "")); code != 200 || body != "ok" {
					t.Fatalf("fetch() = %d %q, want 200 ok", code, body)
				}
			}
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			res, err := tr.Send(ctx, newRequest(t, "GET", srv.url(), ""), nil)
			d := time.Since(start)
			if tt.delay > 0 {
				if err != nil {
					t.Fatalf("Send() error after %v: %v", d, err)
				}
				res.Body.Close()
			} else if err == nil {
				res.Body.Close()
				t.Fatal("Send() succeeded, want a timeout")
			}
			if d < tt.min || d > tt.max {
				t.Errorf("Send() took %v, want %v to %v", d, tt.min, tt.max)
			}
			if n := srv.conns.Load(); n != 1 {
				t.Errorf("server accepted %d connections, want 1", n)
			}
		})
	}
}
