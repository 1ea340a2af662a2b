package engine

// Regression tests for engine bugs the differential and the raw-socket
// tests found (and were fixed): each failed on the engine as it was.

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRegressHTTP10KeepAliveClose: "Connection: keep-alive, close" on
// HTTP/1.0. net/http's shouldClose (transfer.go) closes when close is
// present, whatever else is; the engine's shouldClose only asks whether
// keep-alive is absent, so it keeps the connection open (and answers
// "Connection: keep-alive") to a client that asked for close.
func TestRegressHTTP10KeepAliveClose(t *testing.T) {
	data := []byte("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
	e := engineParse(data)
	if e.err != nil {
		t.Fatal(e.err)
	}
	if !e.req.Close {
		t.Errorf("engine: Close = false for %q; net/http: true", data)
	}
	// On the wire: the answer must not promise keep-alive.
	srv := startEngine(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})})
	got := exchange(t, srv, string(data))
	if strings.Contains(got, "Connection: keep-alive") {
		t.Errorf("engine answers %q", got)
	}
}

// TestRegressSeveralExpect: "Expect: foo" then "Expect: 100-continue".
// net/http's server looks at the first Expect value only (Header.get):
// not 100-continue, so 417. The engine's check asks whether any value
// holds 100-continue, so it runs the handler on a request carrying an
// expectation it does not meet.
func TestRegressSeveralExpect(t *testing.T) {
	data := []byte("POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
	if n := netHTTPParse(data); n.err == nil {
		t.Fatal("net/http accepts; the test's premise is wrong")
	}
	if e := engineParse(data); e.err != errExpectation {
		t.Errorf("engine: %v for %q; net/http: 417", e.err, data)
	}
}

// TestRegressExpectTokenInWords: "Expect: foo 100-continue". net/http's
// hasToken finds 100-continue bounded by a space and accepts (and sends
// 100 Continue); the engine splits on commas only and answers 417. Either
// the engine reads it as net/http does, or doc.go lists it as a
// deliberate difference and strictClasses learns it.
func TestRegressExpectTokenInWords(t *testing.T) {
	data := []byte("POST / HTTP/1.1\r\nHost: a\r\nExpect: foo 100-continue\r\nContent-Length: 1\r\n\r\nx")
	if n := netHTTPParse(data); n.err != nil {
		t.Fatalf("net/http refuses (%v); the test's premise is wrong", n.err)
	}
	if e := engineParse(data); e.err != nil {
		t.Errorf("engine refuses %q (%v); net/http accepts, and doc.go does not list it", data, e.err)
	}
}

// TestRegressShutdownConnectionClose: the answer of a request that runs when
// Shutdown starts goes out without "Connection: close", though the engine
// closes the connection right after it (serveOne checks s.shutdown only
// after the answer was sent). net/http's server says Connection: close
// (doKeepAlives is false while shutting down). A client that pipelines or
// reuses the connection at once sends a request into a closing
// connection and must retry it; it should be told.
func TestRegressShutdownConnectionClose(t *testing.T) {
	for _, engine := range []bool{false, true} {
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			<-release
			w.Write([]byte("done"))
		})
		var addr string
		var shutdown func(context.Context) error
		if engine {
			s := &Server{Handler: h}
			addr, shutdown = startEngine(t, s), s.Shutdown
		} else {
			s := &http.Server{Handler: h, ErrorLog: quietLog()}
			addr, shutdown = startStd(t, s), s.Shutdown
		}
		cl := dial(t, addr)
		cl.send(getA)
		<-started
		done := make(chan error, 1)
		go func() { done <- shutdown(context.Background()) }()
		time.Sleep(50 * time.Millisecond)
		close(release)
		a := cl.mustRead("GET")
		<-done
		switch {
		case !engine && !a.close:
			t.Fatal("net/http does not say close either; the test's premise is wrong")
		case engine && !a.close:
			t.Errorf("engine: answer during Shutdown without Connection: close (header %v); net/http says close", a.header)
		}
	}
}

// TestRegressRefusalWithoutDate: the default refusal (Server.Refuse nil) has
// no Date header; net/http's refusals have one, and RFC 9110 §6.6.1 wants
// it from an origin server with a clock.
func TestRegressRefusalWithoutDate(t *testing.T) {
	addr := startEngine(t, &Server{Handler: http.HandlerFunc(hello)})
	got := exchange(t, addr, "GET / HTTP/1.1\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Fatalf("got %q", got)
	}
	if !strings.Contains(got, "\r\nDate: ") {
		t.Errorf("default refusal without Date: %q", got)
	}
}

// TestRegressBodyReadAfterHandler: the engine does not close the request body
// when the handler returns. When the connection then ends without the
// body read to its end (the request said Connection: close, the unread
// rest was over 256 KiB, or the handler enabled full duplex), serve puts
// the connection's bufio.Reader back in the pool after Reset(nil), and a
// goroutine the handler left reading r.Body (a proxy's transport still
// sending the request body upstream is one) reads that pooled reader:
// a nil-reader panic that takes the process down, or, once the reader
// serves another connection, that connection's bytes. net/http closes the
// body after the handler (later Reads fail with "http: invalid Read on
// closed Body").
func TestRegressBodyReadAfterHandler(t *testing.T) {
	for _, c := range []struct{ name, send string }{
		{"Connection: close", "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 10\r\n\r\nhello"},
		{"unread body over 256 KiB", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("b", 1000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			type result struct {
				n     int
				err   error
				panic any
			}
			late := make(chan result, 1)
			s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				go func() {
					defer func() {
						if p := recover(); p != nil {
							late <- result{panic: p}
						}
					}()
					time.Sleep(800 * time.Millisecond) // the connection is gone by then (its drain lasts 500 ms)
					buf := make([]byte, 64)
					n, err := r.Body.Read(buf)
					late <- result{n: n, err: err}
				}()
				w.Write([]byte("answered"))
			})}
			addr := startEngine(t, s)
			cl := dial(t, addr)
			cl.send(c.send)
			cl.mustRead("POST")
			if !cl.closed(2 * time.Second) {
				t.Fatal("connection not closed; the test's premise is wrong")
			}
			// Another connection that may get the pooled reader.
			other := dial(t, addr)
			other.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
			var res result
			select {
			case res = <-late:
			case <-time.After(3 * time.Second):
				other.c.Close() // unblocks the late read
				t.Fatal("r.Body.Read after the handler returned blocks: it reads the reader now serving another connection")
			}
			switch {
			case res.panic != nil:
				t.Errorf("r.Body.Read after the handler returned panics: %v", res.panic)
			case res.err == nil || res.n > 0:
				t.Errorf("r.Body.Read after the handler returned and the connection closed: %d bytes, %v; want an error", res.n, res.err)
			}
		})
	}
}

// TestRegressFullDuplexUnreadBody: a handler that enabled full duplex and
// returned without reading its request body leaves the body on the
// connection: send skips body.finish for full duplex and nothing after
// the handler reads or drops the rest, so the connection is kept and the
// body's bytes are parsed as the next request (here a smuggled GET is
// served). net/http's server sees the body remains and closes the
// connection instead.
func TestRegressFullDuplexUnreadBody(t *testing.T) {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/smuggled" {
			io.WriteString(w, "smuggled request served")
			return
		}
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			panic(err)
		}
		io.WriteString(w, "ok")
	})
	send := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled
	for _, engine := range []bool{false, true} {
		var addr string
		if engine {
			addr = startEngine(t, &Server{Handler: h})
		} else {
			addr = startStd(t, &http.Server{Handler: h, ErrorLog: quietLog()})
		}
		got := exchange(t, addr, send)
		if strings.Contains(got, "smuggled request served") {
			if !engine {
				t.Fatal("net/http serves it too; the test's premise is wrong")
			}
			t.Errorf("engine parses the unread body as a request: %q", got)
		}
	}
}

// TestRegressWatchEndsWithHandler: a handler that ends while the watch of
// its connection is starting. The watch used to clear the read deadline
// after end had set it in the past to stop it, so the watch read, and the
// connection with it, waited for a client that was waiting for the answer.
// The hook holds the watch back so that the handler ends first.
func TestRegressWatchEndsWithHandler(t *testing.T) {
	testHookWatch = func() { time.Sleep(50 * time.Millisecond) }
	t.Cleanup(func() { testHookWatch = nil })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(watchAfter + 10*time.Millisecond)
		io.WriteString(w, "ok")
	})
	addr := startEngine(t, &Server{Handler: h})
	var wg sync.WaitGroup
	for conn := range 3 {
		wg.Go(func() {
			cl := dial(t, addr)
			for i := range 2 {
				cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				if a, err := cl.read("GET"); err != nil || a.status != 200 {
					t.Errorf("connection %d, request %d: %v %+v", conn, i, err, a)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestWatchWindowAfterQuickRequests: the watch timer of a connection is
// kept across requests (begin); a request that begins while it is pending
// is still watched only once it has run for watchAfter, not when the
// timer set for an earlier request fires.
func TestWatchWindowAfterQuickRequests(t *testing.T) {
	started := make(chan time.Time, 4)
	testHookWatch = func() { started <- time.Now() }
	t.Cleanup(func() { testHookWatch = nil })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		io.WriteString(w, "ok")
	})
	addr := startEngine(t, &Server{Handler: h})
	cl := dial(t, addr)
	for i := range 5 {
		cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if a, err := cl.read("GET"); err != nil || a.status != 200 {
			t.Fatalf("request %d: %v %+v", i, err, a)
		}
	}
	// Into the first request's window, so that its timer fires while
	// the slow request runs.
	time.Sleep(watchAfter / 3)
	begin := time.Now()
	cl.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	select {
	case at := <-started:
		if d := at.Sub(begin); d < watchAfter-10*time.Millisecond || d > watchAfter+time.Second {
			t.Errorf("watch started %v after the request, want about %v", d, watchAfter)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request was never watched")
	}
	cl.c.Close()
}
