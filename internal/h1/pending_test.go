package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// finish reads p's answer and returns its status and body.
func finish(tb testing.TB, p *Pending) (int, string) {
	tb.Helper()
	res, err := p.Finish(nil)
	if err != nil {
		tb.Fatalf("Finish() error: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("reading the body: %v", err)
	}
	return res.StatusCode, string(b)
}

// TestPendingAnswersInAnyOrder: several requests go out before any answer
// is read; each answer is read from its own connection, whatever the
// order, and every connection goes back to the pool once read.
func TestPendingAnswersInAnyOrder(t *testing.T) {
	t.Parallel()
	var arrived atomic.Int32
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			arrived.Add(1)
			io.WriteString(c, ownAnswer(req.URL.Path))
		}
	})
	tr := newTransport(t, nil)
	for round := range 2 {
		ps := make([]Pending, 3)
		for i := range ps {
			req := newRequest(t, "GET", fmt.Sprintf("%s/r%d", srv.url(), i), "")
			if err := tr.Start(context.Background(), req, nil, &ps[i]); err != nil {
				t.Fatalf("Start(%d) error: %v", i, err)
			}
		}
		deadline := time.Now().Add(wait)
		for arrived.Load() < int32(3*(round+1)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := arrived.Load(); n != int32(3*(round+1)) {
			t.Fatalf("round %d: %d requests arrived before any answer was read, want all", round, n)
		}
		for i := len(ps) - 1; i >= 0; i-- {
			code, body := finish(t, &ps[i])
			if want := fmt.Sprintf("/r%d", i); code != 200 || body != want {
				t.Errorf("round %d: answer %d = %d %q, want 200 %q", round, i, code, body, want)
			}
		}
		if n := tr.IdleConns(); n != 3 {
			t.Errorf("round %d: IdleConns() = %d, want 3", round, n)
		}
	}
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("server accepted %d connections, want 3 (reused in the second round)", n)
	}
}

// TestPendingSlow: Slow is called once, on the reading goroutine, when the
// answer (its header or its body) has not come within the window, and not
// when it comes sooner; the answer is read either way. Called, it can end
// the request's context, which then aborts the read: the watch starts with
// the window's end.
func TestPendingSlow(t *testing.T) {
	t.Parallel()
	const late = 3 * watchAfter
	tests := []struct {
		name       string
		headDelay  time.Duration
		bodyDelay  time.Duration
		cancel     bool
		wantCalled bool
	}{
		{name: "prompt answer", wantCalled: false},
		{name: "late header", headDelay: late, wantCalled: true},
		{name: "late body", bodyDelay: late, wantCalled: true},
		{name: "late header, canceled by Slow", headDelay: time.Hour, cancel: true, wantCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err != nil {
					return
				}
				select {
				case <-time.After(tt.headDelay):
				case <-t.Context().Done():
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
				time.Sleep(tt.bodyDelay)
				io.WriteString(c, "hello")
				drain(c)
			})
			tr := newTransport(t, nil)
			// Bounded: a Slow that is not called must fail the test, not
			// hang it.
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			var p Pending
			calls := 0
			p.Slow = func() {
				calls++
				if tt.cancel {
					cancel()
				}
			}
			start := time.Now()
			if err := tr.Start(ctx, newRequest(t, "GET", srv.url(), ""), nil, &p); err != nil {
				t.Fatalf("Start() error: %v", err)
			}
			res, err := p.Finish(nil)
			if tt.cancel {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Finish() error = %v, want context.Canceled", err)
				}
				if d := time.Since(start); d > wait/2 {
					t.Errorf("the canceled read ended after %v", d)
				}
			} else {
				if err != nil {
					t.Fatalf("Finish() error: %v", err)
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || string(b) != "hello" {
					t.Fatalf("body = %q, %v; want hello", b, err)
				}
			}
			if got := calls > 0; got != tt.wantCalled || calls > 1 {
				t.Errorf("Slow called %d times, want called: %v (at most once)", calls, tt.wantCalled)
			}
		})
	}
}

// TestPendingSlowOverTLS: a TLS connection has no window (the context is
// watched from the start), so Slow is called at once.
func TestPendingSlowOverTLS(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t, "127.0.0.1")
	srv, _ := newTLSServer(t, cert, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	})
	tr := newTransport(t, &Transport{TLSClientConfig: &tls.Config{RootCAs: cert.roots}})
	var p Pending
	calls := 0
	p.Slow = func() { calls++ }
	if err := tr.Start(context.Background(), newRequest(t, "GET", srv.URL, ""), nil, &p); err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	if code, body := finish(t, &p); code != 200 || body != "secure" {
		t.Errorf("answer = %d %q, want 200 secure", code, body)
	}
	if calls != 1 {
		t.Errorf("Slow called %d times, want once", calls)
	}
}

// TestPendingStaleConnection: a pooled connection that the upstream closes
// after taking the request, without an answer, fails Finish; a request
// that can go again goes on a new connection from Finish, as
// SendOutbound's would, and one that cannot fails.
func TestPendingStaleConnection(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GET", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			var requests, conns atomic.Int32
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				first := conns.Add(1) == 1
				for n := 0; ; n++ {
					if _, err := readRequest(br); err != nil {
						return
					}
					requests.Add(1)
					if first && n == 1 {
						// The second request on the first connection: taken
						// and dropped.
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			tr := newTransport(t, nil)
			fetch(t, tr, newRequest(t, "GET", srv.url(), ""))
			var p Pending
			if err := tr.Start(context.Background(), newRequest(t, method, srv.url()+"/again", ""), nil, &p); err != nil {
				t.Fatalf("Start() error: %v", err)
			}
			res, err := p.Finish(nil)
			if method == "DELETE" {
				if err == nil {
					res.Body.Close()
					t.Fatal("Finish() succeeded; a DELETE the upstream took must not go again")
				}
				if n := requests.Load(); n != 2 {
					t.Errorf("upstream saw %d requests, want 2", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Finish() error: %v, want the request sent again", err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if n, c := requests.Load(), srv.conns.Load(); n != 3 || c != 2 {
				t.Errorf("upstream saw %d requests on %d connections, want 3 on 2", n, c)
			}
		})
	}
}

// TestPendingClose: a request given up on closes its connection, which the
// upstream sees, and no later request gets that connection or its answer.
func TestPendingClose(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{}, 1)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				gone <- struct{}{}
				return
			}
			io.WriteString(c, ownAnswer(req.URL.Path))
		}
	})
	tr := newTransport(t, nil)
	fetch(t, tr, newRequest(t, "GET", srv.url()+"/warm", ""))
	var p Pending
	if err := tr.Start(context.Background(), newRequest(t, "GET", srv.url()+"/dropped", ""), nil, &p); err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	p.Close()
	recv(t, gone, "the closed connection at the upstream")
	if n := tr.IdleConns(); n != 0 {
		t.Errorf("IdleConns() = %d after Close, want 0", n)
	}
	if code, body := fetch(t, tr, newRequest(t, "GET", srv.url()+"/next", "")); code != 200 || body != "/next" {
		t.Errorf("next answer = %d %q, want the answer to /next", code, body)
	}
}

// TestStartRefuses: what Send refuses before sending, Start refuses too,
// having taken no connection.
func TestStartRefuses(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	tr := newTransport(t, nil)
	var p Pending
	req := newRequest(t, "GET", srv.url(), "")
	req.Header.Set("Upgrade", "websocket")
	if err := tr.Start(context.Background(), req, nil, &p); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Start(Upgrade) error = %v, want ErrUnsupported", err)
	}
	req = newRequest(t, "GET", srv.url(), "")
	req.Header.Set("X-Bad", "a\r\nInjected: 1")
	if err := tr.Start(context.Background(), req, nil, &p); err == nil {
		t.Error("Start() with a line break in a value succeeded")
	}
	// A Block's fields decide as the map's do: it is what would be sent.
	for _, h := range []http.Header{{"Upgrade": {"websocket"}}, {"Expect": {"100-continue"}}} {
		blk, err := NewBlock(h)
		if err != nil {
			t.Fatal(err)
		}
		req = newRequest(t, "GET", srv.url(), "")
		req.Header = h
		if err := tr.Start(context.Background(), req, &Outbound{Block: &blk}, &p); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Start(Block %v) error = %v, want ErrUnsupported", h, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Start(ctx, newRequest(t, "GET", srv.url(), ""), nil, &p); !errors.Is(err, context.Canceled) {
		t.Errorf("Start(canceled) error = %v, want context.Canceled", err)
	}
	if n := srv.conns.Load(); n != 0 {
		t.Errorf("server accepted %d connections, want 0", n)
	}
}

// An Outbound's Room takes the answer: the response a send returns lives
// in it, round after round on the same room, as a header list or a map,
// and a request Finish sends again (the pooled connection was stale) is
// read into it as well.
func TestOutboundRoom(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		first := conns.Add(1) == 1
		for n := 0; ; n++ {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			if first && n == 1 {
				return // taken and dropped: the request goes again
			}
			if req.URL.Path == "/map" {
				// Two Content-Length fields of one value: a map, not a list.
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nmap")
				continue
			}
			io.WriteString(c, ownAnswer(req.URL.Path))
		}
	})
	tr := newTransport(t, nil)
	var room Answer
	for i, path := range []string{"/one", "/stale", "/map", "/two"} {
		ob := Outbound{List: true, Room: &room}
		var p Pending
		if err := tr.Start(context.Background(), newRequest(t, "GET", srv.url()+path, ""), &ob, &p); err != nil {
			t.Fatalf("%s: Start() error: %v", path, err)
		}
		res, err := p.Finish(nil)
		if err != nil {
			t.Fatalf("%s: Finish() error: %v", path, err)
		}
		if res != &room.a.res {
			t.Errorf("%s: the response is not in the room", path)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading the body: %v", path, err)
		}
		want := path
		if path == "/map" {
			want = "map"
			if res.Header.Get("Content-Length") != "3" || ob.Answer != nil {
				t.Errorf("%s: header %v, list %q; want the map", path, res.Header, ob.Answer)
			}
		} else if Value(res, ob.Answer, "Content-Length") == "" {
			t.Errorf("%s: no Content-Length in the answer's list %q", path, ob.Answer)
		}
		if string(b) != want {
			t.Errorf("round %d, %s: body %q, want %q", i, path, b, want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("upstream saw %d connections, want 2 (the stale one, then one for the rest)", n)
	}
}
