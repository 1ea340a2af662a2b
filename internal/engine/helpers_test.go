package engine

import (
	"bufio"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startEngine serves s on a loopback listener until the test ends and
// returns its address.
func startEngine(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		s.Serve(ln)
		close(done)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return ln.Addr().String()
}

// startStd serves s (net/http's server) on a loopback listener until the
// test ends and returns its address.
func startStd(t testing.TB, s *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		s.Serve(ln)
		close(done)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return ln.Addr().String()
}

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// client is one raw connection to a server under test.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// answer is one response as read off the wire.
type answer struct {
	status  int
	header  http.Header
	framing string // "length", "chunked" or "close"
	close   bool   // Connection: close, or HTTP/1.0 without keep-alive
	body    string
	trailer http.Header
	proto   string
}

// read reads one answer to a request of method (HEAD answers have no
// body), with interim 1xx answers skipped but for those listed in 1xx.
func (c *client) read(method string) (answer, error) {
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header, close: res.Close, proto: res.Proto}
	switch {
	case len(res.TransferEncoding) > 0:
		a.framing = "chunked"
	case res.Header.Get("Content-Length") != "":
		a.framing = "length"
	case res.StatusCode < 200 || res.StatusCode == 204 || res.StatusCode == 304 || method == http.MethodHead:
		a.framing = "none"
	default:
		a.framing = "close"
	}
	b, err := io.ReadAll(res.Body)
	a.body = string(b)
	a.trailer = res.Trailer
	return a, err
}

func (c *client) mustRead(method string) answer {
	c.t.Helper()
	a, err := c.read(method)
	if err != nil {
		c.t.Fatalf("reading the answer: %v", err)
	}
	return a
}

// closed reports whether the server closed the connection: the next read
// ends (EOF or reset) within d, with nothing read.
func (c *client) closed(d time.Duration) bool {
	c.c.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Errorf("unexpected byte %q after the answers", b)
		return false
	}
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// closedNoSooner waits up to within for the server to close the
// connection, and fails the test when it does not, or when it closed
// sooner than min after start; what names the timeout.
func (c *client) closedNoSooner(start time.Time, min, within time.Duration, what string) {
	c.t.Helper()
	if !c.closed(within) {
		c.t.Fatalf("connection not closed by the %s", what)
	}
	if d := time.Since(start); d < min {
		c.t.Errorf("closed after %v, before the %s", d, what)
	}
}

// exchange writes data on a new connection and returns all that comes
// back until the server closes it (or a second of silence).
func exchange(t testing.TB, addr, data string) string {
	t.Helper()
	c := dial(t, addr)
	c.send(data)
	c.c.SetReadDeadline(time.Now().Add(time.Second))
	b, _ := io.ReadAll(c.br)
	return string(b)
}

func statusLine(raw string) string {
	line, _, _ := strings.Cut(raw, "\r\n")
	return line
}
