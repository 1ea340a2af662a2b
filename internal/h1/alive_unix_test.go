//go:build unix

package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestProbeStaleConnection: a connection idle for over a second, as every
// other, is checked before use, so a POST, which cannot be retried, does
// not go out on one the upstream already closed.
func TestProbeStaleConnection(t *testing.T) {
	t.Parallel()
	bodies := make(chan string, 4)
	closed := make(chan struct{}, 4)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		bodies <- string(b)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	})
	clock := newFakeClock()
	tr := newTransport(t, &Transport{now: clock.now})
	fetch(t, tr, newRequest(t, "GET", srv.url(), ""))
	recv(t, bodies, "first request")
	recv(t, closed, "close by the upstream")

	clock.advance(2 * time.Second)
	body := &closeTracker{}
	req := newRequest(t, "POST", srv.url()+"/v1/orders", `{"sku":"A-1"}`)
	body.Reader, req.Body = req.Body, body
	if code, b := fetch(t, tr, req); code != 200 || b != "ok" {
		t.Errorf("fetch(POST) = %d %q, want 200 ok", code, b)
	}
	if got := recv(t, bodies, "POST"); got != `{"sku":"A-1"}` {
		t.Errorf("upstream received body %q", got)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

// TestProbeLiveConnection: the check keeps a healthy idle connection.
func TestProbeLiveConnection(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	clock := newFakeClock()
	tr := newTransport(t, &Transport{now: clock.now})
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	clock.advance(2 * time.Second)
	fetch(t, tr, newRequest(t, "POST", srv.URL, `{"sku":"A-1"}`))
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

// TestProbeUnsolicitedBytes: bytes sent on an idle connection would be read
// as the next answer; the check drops such a connection.
func TestProbeUnsolicitedBytes(t *testing.T) {
	t.Parallel()
	idle := make(chan struct{})
	sent := make(chan struct{}, 1)
	var first atomic.Bool
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if first.CompareAndSwap(false, true) {
			if _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			select {
			case <-idle:
			case <-time.After(wait):
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
			sent <- struct{}{}
			drain(c)
			return
		}
		answerEach("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")(c, br)
	})
	clock := newFakeClock()
	tr := newTransport(t, &Transport{now: clock.now})
	fetch(t, tr, newRequest(t, "GET", srv.url(), ""))
	close(idle)
	recv(t, sent, "unsolicited answer")

	clock.advance(2 * time.Second)
	res, err := tr.Send(context.Background(), newRequest(t, "POST", srv.url(), "x"), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "fresh" {
		t.Errorf("body = %q, want fresh (from a new connection)", b)
	}
}
