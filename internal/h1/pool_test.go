package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReuseSequential(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	tr := newTransport(t, nil)
	for i := range 10 {
		path := fmt.Sprintf("/v1/orders/%d", i)
		if code, body := fetch(t, tr, newRequest(t, "GET", srv.URL+path, "")); code != 200 || body != path {
			t.Errorf("fetch(%s) = %d %q, want 200 %q", path, code, body, path)
		}
	}
	// POSTs with a body reuse it too.
	fetch(t, tr, newRequest(t, "POST", srv.URL, `{"sku":"A-1"}`))
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections for 11 sequential requests, want 1", n)
	}
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d, want 1", n)
	}
}

func TestConnectionCloseNotReused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		close   bool
	}{
		{"upstream says close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}, false},
		{"request says close", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "bye") }, true},
		{"HTTP/1.0 upstream", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var url string
			var conns func() int32
			if tt.handler != nil {
				srv := newCountingServer(t, tt.handler)
				url, conns = srv.URL, srv.conns.Load
			} else {
				srv := newRawServer(t, answerEach("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye"))
				url, conns = srv.url(), srv.conns.Load
			}
			tr := newTransport(t, nil)
			for range 2 {
				req := newRequest(t, "GET", url, "")
				req.Close = tt.close
				if code, body := fetch(t, tr, req); code != 200 || body != "bye" {
					t.Errorf("fetch() = %d %q, want 200 bye", code, body)
				}
				if n := tr.IdleConns(); n != 0 {
					t.Errorf("IdleConns() = %d, want 0", n)
				}
			}
			if n := conns(); n != 2 {
				t.Errorf("server accepted %d connections, want 2", n)
			}
		})
	}
}

func TestMaxIdlePerAddr(t *testing.T) {
	t.Parallel()
	const inFlight = 5
	arrived := make(chan struct{}, inFlight)
	release := make(chan struct{})
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	})
	tr := newTransport(t, &Transport{MaxIdlePerAddr: 2})
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL, ""), nil)
			if err != nil {
				t.Errorf("Send() error: %v", err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		})
	}
	for range inFlight {
		recv(t, arrived, "request")
	}
	close(release)
	wg.Wait()
	if n := tr.IdleConns(); n != 2 {
		t.Errorf("IdleConns() = %d, want MaxIdlePerAddr 2", n)
	}
	// The ones over the bound were closed, not leaked.
	srv.waitClosed(t, inFlight-2)
}

func TestIdleConnTimeout(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	clock := newFakeClock()
	tr := newTransport(t, &Transport{IdleConnTimeout: 30 * time.Second, now: clock.now})
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))

	// Idle for less than the timeout (but long enough to be checked): kept.
	clock.advance(29 * time.Second)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1 (the idle one reused)", n)
	}

	clock.advance(31 * time.Second)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2 (the expired one replaced)", n)
	}
	srv.waitClosed(t, 1)
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d, want 1", n)
	}
}

func TestCloseIdleConnections(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	other := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newTransport(t, nil)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	fetch(t, tr, newRequest(t, "GET", other.URL, ""))
	if n := tr.IdleConns(); n != 2 {
		t.Fatalf("IdleConns() = %d, want 2", n)
	}
	tr.CloseIdleConnections()
	if n := tr.IdleConns(); n != 0 {
		t.Errorf("IdleConns() after CloseIdleConnections = %d, want 0", n)
	}
	srv.waitClosed(t, 1)
	other.waitClosed(t, 1)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.URL.Path+"|"+string(b))
	})
	const maxIdle = 4
	tr := newTransport(t, &Transport{MaxIdlePerAddr: maxIdle})
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 25 {
				path := fmt.Sprintf("/g%d/r%d", g, i)
				method, body := "GET", ""
				if i%3 == 0 {
					method, body = "POST", path
				}
				res, err := tr.Send(context.Background(), newRequest(t, method, srv.URL+path, body), nil)
				if err != nil {
					t.Errorf("Send(%s %s) error: %v", method, path, err)
					continue
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if want := path + "|" + body; err != nil || string(b) != want {
					t.Errorf("Send(%s %s) body = %q, %v; want %q", method, path, b, err, want)
				}
				if n := tr.IdleConns(); n > maxIdle {
					t.Errorf("IdleConns() = %d, over MaxIdlePerAddr %d", n, maxIdle)
				}
			}
		})
	}
	wg.Wait()
	if n := tr.IdleConns(); n < 1 || n > maxIdle {
		t.Errorf("IdleConns() = %d, want 1..%d", n, maxIdle)
	}
}

// closingServer answers one request per connection as if it kept the
// connection (no Connection: close), then closes it and reports on closed.
func closingServer(t *testing.T) (*rawServer, chan struct{}, *atomic.Int32) {
	closed := make(chan struct{}, 16)
	var requests atomic.Int32
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		requests.Add(1)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	})
	return srv, closed, &requests
}

// TestStaleConnection: the upstream closed an idle connection that is
// used again soon after (the clock stands still: less than a second idle).
// Whatever the method, the check before use finds it closed and the
// request goes on a new connection; were the close to arrive just after
// the check, a request that can go again would fail on it and be sent
// again, and one that cannot would fail. Either way the upstream answers
// each request once.
func TestStaleConnection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		method  string
		body    string
		header  string
		retried bool
	}{
		{"GET", "GET", "", "", true},
		{"HEAD", "HEAD", "", "", true},
		{"OPTIONS", "OPTIONS", "", "", true},
		{"POST with body", "POST", `{"sku":"A-1"}`, "", false},
		{"POST without body", "POST", "", "", false},
		{"DELETE", "DELETE", "", "", false},
		{"POST with Idempotency-Key", "POST", "", "Idempotency-Key", true},
		{"PUT with X-Idempotency-Key", "PUT", "", "X-Idempotency-Key", true},
		{"GET with body", "GET", "ping", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, closed, requests := closingServer(t)
			// A clock that stands still: the check does not depend on
			// how long the connection was idle.
			clock := newFakeClock()
			tr := newTransport(t, &Transport{now: clock.now})
			fetch(t, tr, newRequest(t, "GET", srv.url(), ""))
			recv(t, closed, "close by the upstream")

			req := newRequest(t, tt.method, srv.url()+"/v1/orders", tt.body)
			if tt.header != "" {
				req.Header.Set(tt.header, "3f1c9a")
			}
			res, err := tr.Send(context.Background(), req, nil)
			if tt.retried {
				if err != nil {
					t.Fatalf("Send() error: %v, want a retry on a new connection", err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if n := srv.conns.Load(); n != 2 {
					t.Errorf("server accepted %d connections, want 2", n)
				}
				if n := requests.Load(); n != 2 {
					t.Errorf("server answered %d requests, want 2", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send() error: %v, want the closed connection found before use", err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if n := requests.Load(); n != 2 {
				t.Errorf("server answered %d requests, want 2", n)
			}
		})
	}
}

// TestNonReplayableNotResent: a request that cannot be sent again is not,
// when the upstream took it and closed the connection without an answer:
// the upstream may have acted on it.
func TestNonReplayableNotResent(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if requests.Add(1) > 1 {
				c.Close()
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTransport(t, &Transport{})
	fetch(t, tr, newRequest(t, "GET", srv.url(), ""))
	res, err := tr.Send(context.Background(), newRequest(t, "POST", srv.url()+"/v1/orders", `{"sku":"A-1"}`), nil)
	if err == nil {
		res.Body.Close()
		t.Fatal("Send() succeeded, want the closed connection's error")
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1 (no second attempt)", n)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("server read %d requests, want 2", n)
	}
}
