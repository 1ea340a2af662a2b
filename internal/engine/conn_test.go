package engine

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// want is one answer a wire case expects, in order.
type want struct {
	method  string // of the request it answers; GET when empty
	status  int
	framing string            // "length", "chunked", "close" or "none"
	body    string            // exact, unless bodyLen is set
	bodyLen int               // the body's length, when body is not given
	close   bool              // the answer says the connection ends
	header  map[string]string // exact values; "" means absent
	trailer map[string]string
	cut     bool // the body ends early: the read fails
	noDate  bool // a refusal by the test's Refuse hook, whose answer has no Date
}

// wireCase is a raw exchange: bytes in, answers out, and whether the
// connection is still usable after them.
type wireCase struct {
	name    string
	handler http.HandlerFunc
	send    string
	// sendLater is written after the first answer was read (a request
	// that must not be sent before).
	want []want
	// open: after the answers, the connection still serves a request
	// (one more GET is sent and answered); otherwise it must be closed.
	open bool
	// differs says why net/http's server answers otherwise, when it
	// does; empty means both servers must pass the case.
	differs string
}

func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }

func echoPath(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, r.URL.Path)
}

func echoBody(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Write(b)
}

const getA = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

var wireCases = []wireCase{
	{
		name:    "keep-alive sequence",
		handler: hello,
		send:    getA,
		want:    []want{{status: 200, framing: "length", body: "hello", header: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Connection": ""}}},
		open:    true,
	},
	{
		name:    "pipelined three in one write",
		handler: echoPath,
		send:    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
		want:    []want{{status: 200, framing: "length", body: "/1"}, {status: 200, framing: "length", body: "/2"}, {status: 200, framing: "length", body: "/3"}},
		open:    true,
	},
	{
		name:    "pipelined POST then GET",
		handler: echoBody,
		send:    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		want:    []want{{status: 200, framing: "length", body: "abc"}, {status: 200, framing: "length", body: ""}},
		open:    true,
	},
	{
		name:    "chunked request body",
		handler: echoBody,
		send:    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
		want:    []want{{status: 200, framing: "length", body: "abcde"}},
		open:    true,
	},
	{
		name:    "HTTP/1.0 without keep-alive",
		handler: hello,
		send:    "GET / HTTP/1.0\r\n\r\n",
		want:    []want{{status: 200, framing: "length", body: "hello", close: true}},
	},
	{
		name:    "HTTP/1.0 keep-alive",
		handler: hello,
		send:    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		want: []want{
			{status: 200, framing: "length", body: "hello", header: map[string]string{"Connection": "keep-alive"}},
			{status: 200, framing: "length", body: "hello", header: map[string]string{"Connection": "keep-alive"}},
		},
		open: true,
	},
	{
		name: "HTTP/1.0 keep-alive, long body without length",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Repeat("x", 10000)))
		},
		send: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		want: []want{{status: 200, framing: "close", bodyLen: 10000, close: true}},
	},
	{
		name:    "Connection: close",
		handler: hello,
		send:    "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		want:    []want{{status: 200, framing: "length", body: "hello", close: true}},
	},
	{
		name:    "HEAD gets the length the body would have",
		handler: hello,
		send:    "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
		want:    []want{{method: "HEAD", status: 200, framing: "length", body: "", header: map[string]string{"Content-Length": "5"}}},
		open:    true,
	},
	{
		name: "HEAD with a handler that writes nothing",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
		},
		send: "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []want{{method: "HEAD", status: 200, framing: "none", header: map[string]string{"Content-Length": ""}}},
		open: true,
	},
	{
		name: "204 carries no body",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
				panic(fmt.Sprintf("Write after 204: %v", err))
			}
		},
		send: getA,
		want: []want{{status: 204, framing: "none", header: map[string]string{"Content-Length": "", "Transfer-Encoding": ""}}},
		open: true,
	},
	{
		name: "304 carries no body",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"1"`)
			w.WriteHeader(http.StatusNotModified)
		},
		send: getA,
		want: []want{{status: 304, framing: "none", header: map[string]string{"Etag": `"1"`, "Content-Length": ""}}},
		open: true,
	},
	{
		name: "long body without length is chunked",
		handler: func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < 10; i++ {
				w.Write([]byte(strings.Repeat(strconv.Itoa(i), 1000)))
			}
		},
		send: getA,
		want: []want{{status: 200, framing: "chunked", bodyLen: 10000}},
		open: true,
	},
	{
		name: "exact Content-Length",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10000")
			w.Write([]byte(strings.Repeat("y", 10000)))
		},
		send: getA,
		want: []want{{status: 200, framing: "length", bodyLen: 10000, header: map[string]string{"Content-Length": "10000"}}},
		open: true,
	},
	{
		name: "too few bytes for Content-Length",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		},
		send: getA,
		want: []want{{status: 200, framing: "length", body: "abc", cut: true, header: map[string]string{"Content-Length": "10"}}},
	},
	{
		name: "HEAD with a long body written",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Repeat("h", 10000)))
		},
		send: "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []want{{method: "HEAD", status: 200, framing: "none", header: map[string]string{"Content-Length": "", "Transfer-Encoding": ""}}},
		open: true,
	},
	{
		name: "too many bytes for Content-Length",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3")
			w.Write([]byte("abc"))
			if _, err := w.Write([]byte("de")); err != http.ErrContentLength {
				panic(fmt.Sprintf("Write past Content-Length: %v", err))
			}
		},
		send:    getA,
		want:    []want{{status: 200, framing: "length", body: "abc"}},
		open:    true,
		differs: "net/http counts the refused bytes as written, finds written != Content-Length and closes; the engine's answer is complete, so it keeps the connection",
	},
	{
		name: "Content-Type sniffed",
		handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><body>hi</body></html>")
		},
		send: getA,
		want: []want{{status: 200, framing: "length", body: "<html><body>hi</body></html>", header: map[string]string{"Content-Type": "text/html; charset=utf-8"}}},
		open: true,
	},
	{
		name: "Content-Type kept when set",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "<html>")
		},
		send: getA,
		want: []want{{status: 200, framing: "length", body: "<html>", header: map[string]string{"Content-Type": "application/json"}}},
		open: true,
	},
	{
		name: "CR and LF in a header value become spaces",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Note", "a\r\nX-Injected: 1")
			w.Header().Set("X-Lf", "b\nc\rd")
			w.Header().Set("X-Plain", "as it is")
			io.WriteString(w, "ok")
		},
		send: getA,
		want: []want{{status: 200, framing: "length", body: "ok", header: map[string]string{
			"X-Note": "a  X-Injected: 1", "X-Lf": "b c d", "X-Plain": "as it is", "X-Injected": "",
		}}},
		open: true,
	},
	{
		name: "trailers declared and prefixed",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("data"))
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
		},
		send: getA,
		want: []want{{status: 200, framing: "chunked", body: "data", trailer: map[string]string{"X-Sum": "42", "X-Late": "yes"}}},
		open: true,
	},
	{
		name: "103 Early Hints then 200",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Set("X-Final", "1")
			io.WriteString(w, "ok")
		},
		send: getA,
		want: []want{
			{status: 103, framing: "none", header: map[string]string{"Link": "</s.css>; rel=preload", "X-Final": ""}},
			{status: 200, framing: "length", body: "ok", header: map[string]string{"Link": "</s.css>; rel=preload", "X-Final": "1"}},
		},
		open: true,
	},
	{
		name: "Expect other than 100-continue",
		handler: func(w http.ResponseWriter, r *http.Request) {
			panic("handler ran")
		},
		send: "POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx",
		want: []want{{status: 417, close: true, noDate: true}},
	},
	{
		name: "unread body under 256 KiB is drained",
		handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ignored "+r.URL.Path)
		},
		send: "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("b", 100000) + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []want{{status: 200, framing: "length", body: "ignored /big"}, {status: 200, framing: "length", body: "ignored /next"}},
		open: true,
	},
	{
		name: "unread chunked body is drained",
		handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.URL.Path)
		},
		send: "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []want{{status: 200, framing: "length", body: "/c"}, {status: 200, framing: "length", body: "/next"}},
		open: true,
	},
	{
		name: "unread body over 256 KiB closes",
		handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ignored")
		},
		send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("b", 300000),
		want: []want{{status: 200, framing: "length", body: "ignored", close: true}},
	},
	{
		name: "malformed chunked body fails the read and closes",
		handler: func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			if err == nil {
				panic("malformed body read without error")
			}
			w.WriteHeader(http.StatusBadRequest)
		},
		send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []want{{status: 400, framing: "length", close: true}},
	},
	{
		name: "body shorter than Content-Length",
		handler: func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err == nil {
				panic("short body read without error")
			}
			w.WriteHeader(http.StatusBadRequest)
		},
		send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
		// The client closes its side after sending (see runWire).
		want:    []want{{status: 400, close: true}},
		differs: "net/http closes without saying Connection: close",
	},
}

// runWire runs c against the server at addr.
func runWire(t *testing.T, addr string, c wireCase) {
	cl := dial(t, addr)
	var wg sync.WaitGroup
	if len(c.send) > 64<<10 {
		// A large request is written while the answers are read: the
		// server may answer (and close) before it read all of it.
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.c.Write([]byte(c.send))
		}()
	} else {
		cl.send(c.send)
	}
	if c.name == "body shorter than Content-Length" {
		cl.c.(interface{ CloseWrite() error }).CloseWrite()
	}
	for i, w := range c.want {
		method := w.method
		if method == "" {
			method = http.MethodGet
		}
		a, err := cl.read(method)
		switch {
		case w.cut && err == nil:
			t.Errorf("answer %d read whole, want it cut", i)
		case w.cut:
		case err != nil:
			t.Fatalf("answer %d: %v", i, err)
		}
		checkAnswer(t, i, a, w)
	}
	if c.open {
		cl.send("GET /last HTTP/1.1\r\nHost: a\r\n\r\n")
		if _, err := cl.read("GET"); err != nil {
			t.Errorf("connection not reusable after the answers: %v", err)
		}
	} else if !cl.closed(2 * time.Second) {
		t.Errorf("connection still open after the answers")
	}
	cl.c.Close()
	wg.Wait()
}

func checkAnswer(t *testing.T, i int, a answer, w want) {
	t.Helper()
	if a.status != w.status {
		t.Errorf("answer %d: status %d, want %d", i, a.status, w.status)
	}
	if w.framing != "" && a.framing != w.framing {
		t.Errorf("answer %d: framing %s, want %s (header %v)", i, a.framing, w.framing, a.header)
	}
	if w.bodyLen > 0 {
		if len(a.body) != w.bodyLen {
			t.Errorf("answer %d: body of %d bytes, want %d", i, len(a.body), w.bodyLen)
		}
	} else if w.framing != "" && a.body != w.body {
		t.Errorf("answer %d: body %q, want %q", i, a.body, w.body)
	}
	if a.close != w.close {
		t.Errorf("answer %d: close %v, want %v (header %v)", i, a.close, w.close, a.header)
	}
	if a.status >= 200 && !w.noDate && a.header.Get("Date") == "" {
		t.Errorf("answer %d: no Date", i)
	}
	for k, v := range w.header {
		if got := a.header.Get(k); got != v {
			t.Errorf("answer %d: %s %q, want %q", i, k, got, v)
		}
	}
	for k, v := range w.trailer {
		if got := a.trailer.Get(k); got != v {
			t.Errorf("answer %d: trailer %s %q, want %q", i, k, got, v)
		}
	}
}

// TestWire runs every wire case against the engine and against net/http's
// server with the same handler: both must answer alike, but where the
// case says why not.
func TestWire(t *testing.T) {
	for _, c := range wireCases {
		t.Run(c.name, func(t *testing.T) {
			t.Run("engine", func(t *testing.T) {
				addr := startEngine(t, &Server{Handler: c.handler})
				runWire(t, addr, c)
			})
			t.Run("net/http", func(t *testing.T) {
				if c.differs != "" {
					t.Skip("differs on purpose: " + c.differs)
				}
				addr := startStd(t, &http.Server{Handler: c.handler, ErrorLog: quietLog()})
				runWire(t, addr, c)
			})
		})
	}
}

// refusal cases: every class of doc.go's "What it accepts", refused before
// any handler with the Refuse hook's answer and a close. stdStatus is
// net/http's answer to the same bytes: 0 where it accepts them (the
// engine is stricter on purpose).
var refusalCases = []struct {
	name      string
	send      string
	status    int
	stdStatus int
}{
	{"request line without version", "GET /\r\nHost: a\r\n\r\n", 400, 400},
	{"request line with two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 400},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, 400},
	{"method not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 400},
	{"target not a URI", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, 400},
	{"bare LF line end", "GET / HTTP/1.1\nHost: a\n\n", 400, 0},
	{"bare LF in a header line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, 0},
	{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, 400},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, 0},
	{"header name not a token", "GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", 400, 400},
	{"header name followed by white space", "GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n", 400, 400},
	{"control character in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400, 400},
	{"missing Host on HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400, 400},
	{"repeated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 400},
	{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, 400},
	{"Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400, 0},
	{"Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0},
	{"transfer coding other than chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, 501},
	{"Content-Length not digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400, 400},
	{"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, 400},
	{"Trailer announcing Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", 400, 400},
	{"HTTP/2.0 request line without preface", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, 505},
	{"HTTP/0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, 505},
	{"oversized header block", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 5000) + "\r\n\r\n", 431, 431},
}

func refuseJSON(status int, msg string) []byte {
	body := fmt.Sprintf(`{"error":%q}`, msg)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// TestRefusals: each malformed request gets the Refuse hook's answer,
// byte for byte, then the connection closes, and no handler runs.
func TestRefusals(t *testing.T) {
	for _, c := range refusalCases {
		t.Run(c.name, func(t *testing.T) {
			var ran sync.WaitGroup
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran.Add(1)
				io.WriteString(w, "served")
			})
			s := &Server{Handler: handler, MaxHeaderBytes: 2048, Refuse: func(status int, msg string) []byte {
				return refuseJSON(status, msg)
			}}
			addr := startEngine(t, s)
			cl := dial(t, addr)
			cl.send(c.send)
			cl.c.SetReadDeadline(time.Now().Add(3 * time.Second))
			got, err := io.ReadAll(cl.br)
			if err != nil {
				t.Fatalf("reading until close: %v (got %q)", err, got)
			}
			line := statusLine(string(got))
			if want := fmt.Sprintf("HTTP/1.1 %d %s", c.status, http.StatusText(c.status)); line != want {
				t.Fatalf("got %q, want status line %q", got, want)
			}
			_, body, _ := strings.Cut(string(got), "\r\n\r\n")
			if !strings.HasPrefix(body, `{"error":`) || strings.Contains(string(got), "served") {
				t.Errorf("answer is not the Refuse hook's alone: %q", got)
			}

			// net/http's server on the same bytes.
			stdSrv := &http.Server{Handler: handler, ErrorLog: quietLog()}
			if c.status == 431 {
				// net/http adds 4 KiB of slack to MaxHeaderBytes.
				stdSrv.MaxHeaderBytes = 1
			}
			std := startStd(t, stdSrv)
			stdGot := exchange(t, std, c.send)
			stdLine := statusLine(stdGot)
			if c.stdStatus == 0 {
				if strings.HasPrefix(stdLine, "HTTP/1.1 4") || strings.HasPrefix(stdLine, "HTTP/1.1 5") {
					t.Errorf("net/http refuses too (%q): the case is not engine-only strictness", stdLine)
				}
				return
			}
			if !strings.HasPrefix(stdLine, fmt.Sprintf("HTTP/1.1 %d ", c.stdStatus)) {
				t.Errorf("net/http answers %q, the table says %d", stdLine, c.stdStatus)
			}
		})
	}
}

// TestRefuseDefault: without a Refuse hook the answer is plain text with
// Connection: close.
func TestRefuseDefault(t *testing.T) {
	addr := startEngine(t, &Server{Handler: http.HandlerFunc(hello)})
	got := exchange(t, addr, "GET / HTTP/1.1\nHost: a\n\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") || !strings.Contains(got, "\r\nConnection: close\r\n") ||
		!strings.HasSuffix(got, "400 Bad Request: "+errBareLF.msg) {
		t.Errorf("got %q", got)
	}
}

func TestHeaderBuffered(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"nothing", "", false},
		{"part of a header", "GET / HTTP/1.1\r\nHost: a\r\n", false},
		{"a whole header, alone", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"a header and part of its body", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", true},
		{"two pipelined", "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", true},
		{"a whole header, then part of the next", "GET / HTTP/1.1\r\n\r\nGET / HT", true},
		{"bare LFs", "GET / HTTP/1.1\n\n", false},
	}
	for _, tt := range tests {
		br := bufio.NewReader(strings.NewReader(tt.in))
		br.Peek(len(tt.in)) // buffer it all
		if got := headerBuffered(br); got != tt.want {
			t.Errorf("%s: headerBuffered = %v, want %v", tt.name, got, tt.want)
		}
	}
}
