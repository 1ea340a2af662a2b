package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is an upstream spoken to at the byte level: a raw TCP listener
// that keeps every byte each connection received, parses the requests in
// them with net/http's reader and answers each with the bytes its script
// returns. It is safe for concurrent use.
type scripted struct {
	ln     net.Listener
	script func(r *upRequest) action

	mu    sync.Mutex
	conns []*upConn
	reqs  []*upRequest
	seen  bytes.Buffer // every byte received since the last reset, in arrival order
}

// upRequest is one request an upstream connection received.
type upRequest struct {
	Conn     int
	Method   string
	URI      string
	Header   http.Header
	Body     []byte
	Complete bool // head and body were read whole
	Err      error
}

// action is a script's answer: the bytes to write (none: write nothing),
// bytes written by a second write after a pause (the upstream's unasked
// extra, arriving in a segment of its own), and whether to close the
// connection afterwards.
type action struct {
	bytes []byte
	later []byte
	pause time.Duration
	close bool
}

type upConn struct {
	id  int
	c   net.Conn
	raw bytes.Buffer // guarded by scripted.mu
}

// newScripted starts a scripted upstream on loopback; a nil script answers
// every request with answer(r).
func newScripted(t testing.TB, script func(r *upRequest) action) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if script == nil {
		script = func(r *upRequest) action { return action{bytes: answer(r)} }
	}
	s := &scripted{ln: ln, script: script}
	done := make(chan struct{})
	go s.accept(done)
	t.Cleanup(func() {
		ln.Close()
		<-done
		s.mu.Lock()
		for _, c := range s.conns {
			c.c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

// URL is the upstream's base URL for a gateway config.
func (s *scripted) URL() string { return "http://" + s.ln.Addr().String() }

func (s *scripted) accept(done chan struct{}) {
	defer close(done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		uc := &upConn{id: len(s.conns) + 1, c: c}
		s.conns = append(s.conns, uc)
		s.mu.Unlock()
		go s.serve(uc)
	}
}

// recorder appends what a connection reads to its raw log.
type recorder struct {
	s  *scripted
	uc *upConn
}

func (r recorder) Write(p []byte) (int, error) {
	r.s.mu.Lock()
	r.uc.raw.Write(p)
	r.s.seen.Write(p)
	r.s.mu.Unlock()
	return len(p), nil
}

func (s *scripted) serve(uc *upConn) {
	defer uc.c.Close()
	br := bufio.NewReader(io.TeeReader(uc.c, recorder{s, uc}))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		r := &upRequest{Conn: uc.id, Method: req.Method, URI: req.RequestURI, Header: req.Header}
		r.Body, r.Err = io.ReadAll(req.Body)
		r.Complete = r.Err == nil
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		if !r.Complete {
			return
		}
		a := s.script(r)
		if len(a.bytes) > 0 {
			if _, err := uc.c.Write(a.bytes); err != nil {
				return
			}
		}
		if len(a.later) > 0 {
			time.Sleep(a.pause)
			if _, err := uc.c.Write(a.later); err != nil {
				return
			}
		}
		if a.close || req.Close {
			return
		}
	}
}

// reset forgets the requests and the byte count (connections stay open).
func (s *scripted) reset() {
	s.mu.Lock()
	s.reqs = nil
	s.seen.Reset()
	s.mu.Unlock()
}

// requests returns what was received since the last reset, and how many
// bytes.
func (s *scripted) requests() ([]*upRequest, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*upRequest(nil), s.reqs...), s.seen.Len()
}

// received returns the bytes received since the last reset, on every
// connection, in arrival order.
func (s *scripted) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen.String()
}

// answer is the default answer: 200, a JSON body naming the request target,
// and the request's X-Tag echoed in X-Upstream-Tag. A HEAD answer has the
// same headers and no body.
func answer(r *upRequest) []byte {
	return answerWith(r, 200, "")
}

// answerWith is answer with another status and bytes appended after the
// response (a misbehaving upstream).
func answerWith(r *upRequest, status int, extra string) []byte {
	tag := r.Header.Get("X-Tag")
	if tag == "" {
		tag = "none"
	}
	body := fmt.Sprintf("{\"path\":%s}\n", strconv.Quote(r.URI))
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Upstream-Tag: %s\r\n", status, http.StatusText(status), tag)
	if status == http.StatusNoContent || status == http.StatusNotModified {
		b.WriteString("\r\n")
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		if r.Method != http.MethodHead {
			b.WriteString(body)
		}
	}
	b.WriteString(extra)
	return []byte(b.String())
}

// jsonAnswer answers 200 with body as application/json.
func jsonAnswer(body string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// poison is a whole, valid response an upstream sends unasked: a gateway
// that reads it as the next request's answer hands it to the wrong client.
const poison = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Upstream-Tag: poison\r\nContent-Length: 18\r\n\r\n{\"path\":\"poison\"}\n"

// summary says in one phrase what the upstream received.
func summarize(reqs []*upRequest, n int) string {
	if n == 0 {
		return "nothing"
	}
	var parts []string
	incomplete := 0
	for _, r := range reqs {
		if !r.Complete {
			incomplete++
			continue
		}
		parts = append(parts, r.Method+" "+r.URI)
	}
	s := strings.Join(parts, ", ")
	if incomplete > 0 {
		if s != "" {
			s += "; "
		}
		s += fmt.Sprintf("%d incomplete request(s)", incomplete)
	}
	if s == "" {
		s = "no complete request"
	}
	return fmt.Sprintf("%s (%d bytes)", s, n)
}
