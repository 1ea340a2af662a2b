package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHeaderTimeoutNotRetried: a request that timed out waiting for its
// answer reached an upstream that is slow, not one that closed the
// connection; sending it again doubles the wait and the upstream's load
// (net/http does not retry on its ResponseHeaderTimeout either).
func TestHeaderTimeoutNotRetried(t *testing.T) {
	t.Parallel()
	var slow atomic.Int32
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/slow" {
				slow.Add(1)
				drain(c)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	clock := newFakeClock()
	tr := newTransport(t, &Transport{ResponseHeaderTimeout: 100 * time.Millisecond, now: clock.now})
	fetch(t, tr, newRequest(t, "GET", srv.url()+"/fast", ""))
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.url()+"/slow", ""), nil)
	if err == nil {
		res.Body.Close()
		t.Fatal("Send() succeeded, want a timeout")
	}
	if n := slow.Load(); n != 1 {
		t.Errorf("upstream received /slow %d times, want 1", n)
	}
}

// TestRefusedRequestKeepsPool: a request writeRequest refuses says nothing
// about the connection; it must neither close the idle ones nor dial.
func TestRefusedRequestKeepsPool(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newTransport(t, nil)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	req := newRequest(t, "GET", srv.URL, "")
	req.Header.Set("X-Note", "a\r\nX-Admin: true")
	if _, err := tr.Send(context.Background(), req, nil); err == nil {
		t.Fatal("Send() succeeded, want an error")
	}
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d, want 1", n)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

// TestCanceledKeepsIdleConn: a request whose context is already done
// sends nothing, so the idle connection it was given stays good; closing
// it makes every client that went away cost the pool a connection.
func TestCanceledKeepsIdleConn(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newTransport(t, nil)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Send(ctx, newRequest(t, "GET", srv.URL, ""), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Send() error = %v, want context.Canceled", err)
	}
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d, want 1", n)
	}
}

// cancelInformer cancels the request when an informational answer comes,
// and gives the cancel time to act before the final answer is read.
type cancelInformer struct{ cancel context.CancelFunc }

func (ci cancelInformer) Informational(int, http.Header) error {
	ci.cancel()
	// Long enough for the context's AfterFunc to have aborted the
	// connection.
	time.Sleep(50 * time.Millisecond)
	return nil
}

// TestCancelBeforeBodyStarts: a cancel that lands after the context is
// watched but before the body is set up must still end the body's reads.
// Here the final header is already buffered when the cancel comes (it
// arrived with a 103), so the abort's deadline is the only trace of it.
func TestCancelBeforeBodyStarts(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		// Past the window, so the context is watched.
		time.Sleep(3 * watchAfter)
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		drain(c)
	})
	tr := newTransport(t, &Transport{ResponseHeaderTimeout: wait})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := tr.Send(ctx, newRequest(t, "GET", srv.url(), ""), cancelInformer{cancel})
	if err != nil {
		// Refusing the answer once canceled is fine too.
		return
	}
	defer res.Body.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(res.Body)
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("reading the body: %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Error("body Read still blocked a second after the cancel")
		// Unblock it from the upstream's side: Close must not run
		// concurrently with Read.
		srv.closeConns()
		<-errc
	}
}

// TestIPv6LiteralWithoutPort: http://[::1]/ is port 80 of ::1.
func TestIPv6LiteralWithoutPort(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, &Transport{DialTimeout: time.Second})
	res, err := tr.Send(context.Background(), newRequest(t, "GET", "http://[::1]/", ""), nil)
	if err == nil {
		// Something listens on [::1]:80: the address was right.
		res.Body.Close()
		return
	}
	var ae *net.AddrError
	if errors.As(err, &ae) {
		t.Errorf("Send(http://[::1]/) error = %v, want a dial to [::1]:80", err)
	}
}

// TestRoundTripClosesRefusedBody: http.RoundTripper "must always close the
// body, including on errors"; Send leaves it open on ErrUnsupported for a
// fallback, but RoundTrip is used where any RoundTripper is.
func TestRoundTripClosesRefusedBody(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, nil)
	body := &closeTracker{Reader: strings.NewReader("{}")}
	req := newRequest(t, "POST", "http://127.0.0.1:1/", "")
	req.Body, req.ContentLength = body, -1
	if _, err := tr.RoundTrip(req); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("RoundTrip() error = %v, want ErrUnsupported", err)
	}
	if !body.closed.Load() {
		t.Error("RoundTrip() left the request body open")
	}
}

// TestResponseAsReadResponse lists answers the response reader takes
// otherwise than net/http's ReadResponse, which it means to follow, with
// no reason of a gateway's to differ.
func TestResponseAsReadResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		answer string
		check  func(t *testing.T, res *http.Response, err error, body string, bodyErr error)
	}{
		{
			name:   "repeated Content-Length",
			method: "GET",
			answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
			check: func(t *testing.T, res *http.Response, err error, body string, bodyErr error) {
				if err != nil {
					t.Fatalf("Send() error: %v", err)
				}
				if got := res.Header["Content-Length"]; len(got) != 1 {
					t.Errorf("Header[Content-Length] = %q, want one value", got)
				}
			},
		},
		{
			name:   "empty Content-Length",
			method: "GET",
			answer: "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nhello",
			check: func(t *testing.T, res *http.Response, err error, body string, bodyErr error) {
				if err == nil {
					t.Errorf("Send() = %d with body %q, want an error", res.StatusCode, body)
				}
			},
		},
		{
			// Stricter than ReadResponse on purpose (see the package doc):
			// a name that is not a token is a broken or hostile upstream.
			name:   "space in a header name",
			method: "GET",
			answer: "HTTP/1.1 200 OK\r\nX-Legacy Flag: 1\r\nContent-Length: 2\r\n\r\nok",
			check: func(t *testing.T, res *http.Response, err error, body string, bodyErr error) {
				if err == nil {
					t.Errorf("Send() = %d, want an error for a header name with a space", res.StatusCode)
				}
			},
		},
		{
			name:   "Trailer on a HEAD answer",
			method: "HEAD",
			answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n",
			check: func(t *testing.T, res *http.Response, err error, body string, bodyErr error) {
				if err != nil {
					t.Fatalf("Send() error: %v", err)
				}
				if _, ok := res.Header["Trailer"]; ok {
					t.Errorf("Header[Trailer] = %q, want it moved to Trailer", res.Header["Trailer"])
				}
			},
		},
		{
			// Found by FuzzResponseSequence: ReadResponse takes an empty
			// trailer section ended by a bare LF; here the trailer is CRLF
			// only, so the body fails and the connection is not reused.
			name:   "empty trailer ended by a bare LF",
			method: "GET",
			answer: "HTTP/1.1 200\nTransfer-Encoding: chunked\n\n0\r\n\n",
			check: func(t *testing.T, res *http.Response, err error, body string, bodyErr error) {
				if err != nil {
					t.Fatalf("Send() error: %v", err)
				}
				if bodyErr == nil {
					t.Errorf("body = %q, want an error", body)
				}
			},
		},
		{
			name:   "trailer ended by a bare LF",
			method: "GET",
			answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: abc\n\n",
			check: func(t *testing.T, res *http.Response, err error, body string, bodyErr error) {
				if err != nil {
					t.Fatalf("Send() error: %v", err)
				}
				if bodyErr == nil {
					t.Errorf("body = %q, trailer %v; want an error", body, res.Trailer)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(c, tt.answer)
			})
			tr := newTransport(t, nil)
			res, err := tr.Send(context.Background(), newRequest(t, tt.method, srv.url(), ""), nil)
			var body []byte
			var bodyErr error
			if err == nil {
				body, bodyErr = io.ReadAll(res.Body)
				res.Body.Close()
			}
			tt.check(t, res, err, string(body), bodyErr)
		})
	}
}

// TestSequenceBoundaries: consecutive answers on one connection are cut
// where net/http cuts them, and bytes past the last answer never become
// the next request's. Each case gives the upstream's answers to the
// requests in order (methods), then "fresh" answers every other request.
func TestSequenceBoundaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		methods []string
		answers []string
		// want is the body each request reads, in order; then one GET
		// must read "fresh".
		want []string
	}{
		{
			name:    "answer after a HEAD answer's length",
			methods: []string{"HEAD", "GET"},
			answers: []string{"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
			want:    []string{"", "ok"},
		},
		{
			name:    "304 with a length, then an answer",
			methods: []string{"GET", "GET"},
			answers: []string{"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
			want:    []string{"", "ok"},
		},
		{
			name:    "chunked with a trailer, then an answer",
			methods: []string{"GET", "GET"},
			answers: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes"},
			want:    []string{"ok", "yes"},
		},
		{
			name:    "bytes past a Connection: close answer",
			methods: []string{"GET"},
			answers: []string{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"},
			want:    []string{"ok"},
		},
		{
			name:    "bytes past an HTTP/1.0 answer",
			methods: []string{"GET"},
			answers: []string{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"},
			want:    []string{"ok"},
		},
		{
			name:    "CRLF past a length",
			methods: []string{"GET"},
			answers: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n"},
			want:    []string{"ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var next atomic.Int32
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					out := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"
					if i := int(next.Add(1)) - 1; i < len(tt.answers) {
						out = tt.answers[i]
					}
					if _, err := io.WriteString(c, out); err != nil {
						return
					}
				}
			})
			tr := newTransport(t, nil)
			for i, m := range tt.methods {
				if _, body := fetch(t, tr, newRequest(t, m, srv.url(), "")); body != tt.want[i] {
					t.Errorf("request %d (%s): body %q, want %q", i, m, body, tt.want[i])
				}
			}
			time.Sleep(10 * time.Millisecond)
			if _, body := fetch(t, tr, newRequest(t, "GET", srv.url(), "")); body != "fresh" {
				t.Errorf("request after the sequence: body %q, want fresh", body)
			}
		})
	}
}
