package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wait is the bound of every wait on an event in these tests.
const wait = 5 * time.Second

// rawServer is a loopback TCP server whose connections are served by hand,
// for answers httptest cannot give. It counts the connections it accepted.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

// newRawServer starts a server that runs serve on each connection, and
// closes the listener and every connection when the test ends.
func newRawServer(tb testing.TB, serve func(c net.Conn, br *bufio.Reader)) *rawServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("Listen() error: %v", err)
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		s.closeConns()
		s.wg.Wait()
	})
	return s
}

// closeConns closes the server's side of every connection so far.
func (s *rawServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.open {
		c.Close()
	}
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return nil, err
	}
	return req, nil
}

// answerEach answers every request on a connection with resp, until the
// client closes it.
func answerEach(resp string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	}
}

// drain blocks until the client closes c.
func drain(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// countingServer is an httptest server that counts the connections it
// accepted and those it closed.
type countingServer struct {
	*httptest.Server
	conns  atomic.Int32
	closed atomic.Int32
	// kick is signalled after each close.
	kick chan struct{}
}

func newCountingServer(tb testing.TB, h http.HandlerFunc) *countingServer {
	tb.Helper()
	s := &countingServer{kick: make(chan struct{}, 1)}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
	}
	s.Start()
	tb.Cleanup(s.Close)
	return s
}

// waitClosed waits until the server closed n connections in all.
func (s *countingServer) waitClosed(tb testing.TB, n int) {
	tb.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for int(s.closed.Load()) < n {
		select {
		case <-s.kick:
		case <-timer.C:
			tb.Fatalf("server closed %d connections within %v, want %d", s.closed.Load(), wait, n)
		}
	}
}

// newTransport returns a Transport whose idle connections close when the
// test ends (before the servers it used, which were started earlier).
func newTransport(tb testing.TB, tr *Transport) *Transport {
	tb.Helper()
	if tr == nil {
		tr = &Transport{}
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return tr
}

// newRequest builds a request for url, with body as its content when not
// empty.
func newRequest(tb testing.TB, method, url, body string) *http.Request {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		tb.Fatalf("NewRequest(%s, %s) error: %v", method, url, err)
	}
	return req
}

// fetch sends req and returns the status and whole body.
func fetch(tb testing.TB, tr *Transport, req *http.Request) (int, string) {
	tb.Helper()
	res, err := tr.Send(context.Background(), req, nil)
	if err != nil {
		tb.Fatalf("Send(%s %s) error: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("reading body of %s %s: %v", req.Method, req.URL, err)
	}
	return res.StatusCode, string(b)
}

// fakeClock is a settable clock for Transport.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recv waits for a value on ch.
func recv[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		tb.Fatalf("no %s within %v", what, wait)
		var zero T
		return zero
	}
}

// closeTracker is a request body that records whether it was closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }
