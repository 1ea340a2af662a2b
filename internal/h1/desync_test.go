package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Upstreams scripted byte by byte that write more than the answer asked
// for: whatever they send past an answer, and whenever they send it while
// the connection sits idle, the next request on the pool gets its own
// answer.

// ownAnswer is the answer to a request for path: the path itself as body.
func ownAnswer(path string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(path), path)
}

const forged = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\npoison!"

func TestUnsolicitedBytesNeverAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		// answer is the first request's answer, extra what follows it.
		answer, extra string
	}{
		{"second answer after the answer", "GET", ownAnswer("/first"), forged},
		{"body after HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", "poison!"},
		{"answer after HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", forged},
		{"body after 204", "GET", "HTTP/1.1 204 No Content\r\n\r\n", "poison!"},
		{"body after 204 with a length", "DELETE", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", "poison!"},
		{"body after 304", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", "poison!"},
		{"answer after 304", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n", forged},
		{"garbage after the chunked terminator", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n/first\r\n0\r\n\r\n", "garbage"},
		{"answer after the chunked terminator", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n/first\r\n0\r\n\r\n", forged},
		{"answer after a large body", "GET", ownAnswer("/" + strings.Repeat("f", 9000)), forged},
		{"a lone byte", "GET", ownAnswer("/first"), "\n"},
	}
	// with says when the extra bytes are sent: in the same write as the
	// answer, or later, while the connection is idle in the pool; way how
	// the first request is made: a round trip, or written (Start) with
	// another request after it and read (Finish) after that one's answer.
	for _, way := range []string{"round trip", "started"} {
		for _, with := range []string{"same write", "while idle"} {
			for _, tt := range tests {
				t.Run(way+"/"+with+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					sent := make(chan struct{}, 1)
					srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
						for {
							req, err := readRequest(br)
							if err != nil {
								return
							}
							switch {
							case req.URL.Path != "/first":
								io.WriteString(c, ownAnswer(req.URL.Path))
							case with == "same write":
								io.WriteString(c, tt.answer+tt.extra)
								sent <- struct{}{}
							default:
								io.WriteString(c, tt.answer)
								time.Sleep(20 * time.Millisecond)
								io.WriteString(c, tt.extra)
								sent <- struct{}{}
							}
						}
					})
					tr := newTransport(t, nil)
					first := newRequest(t, tt.method, srv.url()+"/first", "")
					var res *http.Response
					var err error
					if way == "round trip" {
						res, err = tr.Send(context.Background(), first, nil)
					} else {
						var p, q Pending
						if err := tr.Start(context.Background(), first, nil, &p); err != nil {
							t.Fatalf("Start(%s /first) error: %v", tt.method, err)
						}
						if err := tr.Start(context.Background(), newRequest(t, "GET", srv.url()+"/other", ""), nil, &q); err != nil {
							t.Fatalf("Start(GET /other) error: %v", err)
						}
						if code, body := finish(t, &q); code != 200 || body != "/other" {
							t.Errorf("GET /other = %d %q, want 200 %q", code, body, "/other")
						}
						res, err = p.Finish(nil)
					}
					if err != nil {
						t.Fatalf("%s /first error: %v", tt.method, err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					recv(t, sent, "extra bytes")
					// Let them reach the client's socket.
					time.Sleep(20 * time.Millisecond)
					for _, path := range []string{"/second", "/third"} {
						if code, body := fetch(t, tr, newRequest(t, "GET", srv.url()+path, "")); code != 200 || body != path {
							t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, path)
						}
					}
				})
			}
		}
	}
}

// TestUnsolicitedBytesAnyMethod: the check does not depend on the method
// or on how long the connection was idle.
func TestUnsolicitedBytesAnyMethod(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "POST"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			idle := make(chan struct{})
			sent := make(chan struct{}, 1)
			var first atomic.Bool
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if first.CompareAndSwap(false, true) {
					if _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, ownAnswer("/first"))
					<-idle
					io.WriteString(c, forged)
					sent <- struct{}{}
					drain(c)
					return
				}
				for {
					req, err := readRequest(br)
					if err != nil {
						return
					}
					io.WriteString(c, ownAnswer(req.URL.Path))
				}
			})
			// The clock stands still: the connection is never idle for long.
			tr := newTransport(t, &Transport{now: newFakeClock().now})
			fetch(t, tr, newRequest(t, "GET", srv.url()+"/first", ""))
			close(idle)
			recv(t, sent, "unsolicited answer")
			time.Sleep(20 * time.Millisecond)
			body := ""
			if method == "PUT" || method == "POST" {
				body = `{"sku":"A-1"}`
			}
			res, err := tr.Send(context.Background(), newRequest(t, method, srv.url()+"/second", body), nil)
			if err != nil {
				t.Fatalf("Send() error: %v", err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if method != "HEAD" && string(b) != "/second" {
				t.Errorf("%s /second: body %q, want /second", method, b)
			}
			if res.ContentLength != int64(len("/second")) {
				t.Errorf("%s /second: Content-Length %d, want %d (its own answer)", method, res.ContentLength, len("/second"))
			}
		})
	}
}

// TestTaggedConcurrentAnswers: many requests at once, each with its own
// tag that the upstream echoes, over an upstream that follows some answers
// with an answer nobody asked for. No request ever gets another's answer.
func TestTaggedConcurrentAnswers(t *testing.T) {
	t.Parallel()
	var junk atomic.Int32
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			out := ownAnswer(req.URL.Path)
			switch tag := req.URL.Path; {
			case req.Method == http.MethodHead:
				// A HEAD answer with the body a GET would get.
				out = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(tag)) + tag
				junk.Add(1)
			case len(tag) > 4<<10, len(tag)%5 == 0:
				// A body larger than the reader's buffer is read past it,
				// and what follows stays in the socket.
				out += ownAnswer(tag + "-junk")
				junk.Add(1)
			case len(tag)%7 == 0:
				out += "garbage"
				junk.Add(1)
			}
			if _, err := io.WriteString(c, out); err != nil {
				return
			}
		}
	})
	tr := newTransport(t, &Transport{MaxIdlePerAddr: 4})
	const workers, each = 8, 150
	var wg sync.WaitGroup
	var mismatches, failures atomic.Int32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				tag := fmt.Sprintf("/w%d/r%d/%s", w, i, strings.Repeat("x", i%11))
				if i%13 == 0 {
					tag += "/" + strings.Repeat("b", 30000)
				}
				method := "GET"
				if i%9 == 0 {
					method = "HEAD"
				}
				res, err := tr.Send(context.Background(), newRequest(t, method, srv.url()+tag, ""), nil)
				if err != nil {
					failures.Add(1)
					t.Errorf("Send(%s %.40s) error: %v", method, tag, err)
					continue
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				switch {
				case err != nil:
					failures.Add(1)
					t.Errorf("reading %.40s: %v", tag, err)
				case method == "HEAD" && (len(b) != 0 || res.ContentLength != int64(len(tag))):
					mismatches.Add(1)
					t.Errorf("HEAD %.40s: %d bytes, Content-Length %d; want its own header", tag, len(b), res.ContentLength)
				case method == "GET" && string(b) != tag:
					mismatches.Add(1)
					t.Errorf("GET %.40s got the answer %.40q", tag, b)
				}
			}
		}()
	}
	wg.Wait()
	if junk.Load() == 0 {
		t.Fatal("the upstream sent no unsolicited bytes")
	}
	t.Logf("%d requests, %d followed by unsolicited bytes, %d mismatches, %d failures", workers*each, junk.Load(), mismatches.Load(), failures.Load())
}

// TestNotSent: a request of which nothing was written fails with a
// NotSentError, whatever its method; one that went out does not.
func TestNotSent(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen() error: %v", err)
	}
	refused := ln.Addr().String()
	ln.Close()
	var got atomic.Int32
	closing := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			got.Add(1)
		}
	})
	tr := newTransport(t, nil)
	for _, method := range []string{"GET", "POST", "PATCH"} {
		body := ""
		if method != "GET" {
			body = `{"sku":"A-1"}`
		}
		_, err := tr.Send(context.Background(), newRequest(t, method, "http://"+refused+"/v1/orders", body), nil)
		var nse *NotSentError
		var oe *net.OpError
		if !errors.As(err, &nse) || !errors.As(err, &oe) || oe.Op != "dial" {
			t.Errorf("%s to a closed port: error %v, want a NotSentError around a dial error", method, err)
		}
		_, err = tr.Send(context.Background(), newRequest(t, method, closing.url()+"/v1/orders", body), nil)
		if err == nil || errors.As(err, &nse) {
			t.Errorf("%s to an upstream that read it and closed: error %v, want one that is not a NotSentError", method, err)
		}
	}
	if n := got.Load(); n != 3 {
		t.Errorf("closing upstream read %d requests, want 3", n)
	}
}

// TestDeadPooledConnNotUsed: a pooled connection the upstream closed is
// found by the check and replaced by a new one, whatever the method, and
// the request reaches the upstream once.
func TestDeadPooledConnNotUsed(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GET", "POST", "PATCH", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			srv, closed, requests := closingServer(t)
			tr := newTransport(t, &Transport{now: newFakeClock().now})
			fetch(t, tr, newRequest(t, "GET", srv.url(), ""))
			recv(t, closed, "close by the upstream")
			time.Sleep(20 * time.Millisecond)
			body := ""
			if method != "GET" && method != "DELETE" {
				body = `{"sku":"A-1"}`
			}
			if code, b := fetch(t, tr, newRequest(t, method, srv.url()+"/v1/orders", body)); code != 200 || b != "ok" {
				t.Errorf("%s = %d %q, want 200 ok", method, code, b)
			}
			if n := requests.Load(); n != 2 {
				t.Errorf("upstream answered %d requests, want 2", n)
			}
			if n := srv.conns.Load(); n != 2 {
				t.Errorf("upstream accepted %d connections, want 2", n)
			}
		})
	}
}
