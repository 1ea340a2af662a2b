package conformance

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// reply is one response the gateway sent.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	Code   string // the JSON error body's "error", if any
	JSON   bool   // Content-Type: application/json
}

// result is what came back for one case.
type result struct {
	Replies []reply
	Closed  bool   // the gateway closed the connection (EOF or reset)
	Reset   string // HTTP/2: the stream or connection was reset (error code)
	// Settings are the server's HTTP/2 SETTINGS, by identifier.
	Settings map[uint16]uint32
}

// part is a piece of a request written after a pause.
type part struct {
	delay time.Duration
	bytes string
}

// wireOpts say how bytes are sent on a raw connection.
type wireOpts struct {
	parts     []part        // sent in order after the case's bytes
	halfClose bool          // shut the write side after sending
	abort     bool          // close the connection after sending, read nothing
	wait      time.Duration // how long to wait for the first response (default 3s)
}

// dial connects to addr: host:port over TCP, or tls://host:port over TLS
// (ALPN http/1.1, any certificate: the suite checks HTTP, not PKI).
func dial(addr string) (net.Conn, error) {
	if host, ok := strings.CutPrefix(addr, "tls://"); ok {
		return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", host,
			&tls.Config{InsecureSkipVerify: true, ServerName: "conformance.test", NextProtos: []string{"http/1.1"}})
	}
	return net.Dial("tcp", addr)
}

// exchangeRaw dials addr, writes payload (and opts.parts) from its own
// goroutine while reading, and parses every response that comes back. The
// connection counts as closed when the read ends with EOF or a reset
// rather than a timeout.
func exchangeRaw(addr, payload string, opts wireOpts) result {
	var res result
	c, err := dial(addr)
	if err != nil {
		res.Closed = true
		return res
	}
	defer c.Close()
	written := make(chan struct{})
	go func() {
		defer close(written)
		if _, err := io.WriteString(c, payload); err != nil {
			return
		}
		for _, p := range opts.parts {
			time.Sleep(p.delay)
			if _, err := io.WriteString(c, p.bytes); err != nil {
				return
			}
		}
		if opts.halfClose {
			// TCP's FIN; over TLS, close_notify.
			c.(interface{ CloseWrite() error }).CloseWrite()
		}
	}()
	if opts.abort {
		<-written
		return res
	}
	wait := opts.wait
	if wait == 0 {
		wait = 3 * time.Second
	}
	// Later responses (a smuggled request's) come at once or never;
	// pipelined requests are GETs in this suite.
	method, _, _ := strings.Cut(payload, " ")
	resps, bodies, closed := testkit.ReadResponses(c, method, wait, 400*time.Millisecond)
	for i, resp := range resps {
		rp := reply{Status: resp.StatusCode, Header: resp.Header, Body: bodies[i]}
		decodeError(&rp)
		res.Replies = append(res.Replies, rp)
	}
	res.Closed = closed
	return res
}

func decodeError(rp *reply) {
	rp.JSON = strings.HasPrefix(rp.Header.Get("Content-Type"), "application/json")
	if rp.Status < 400 || !rp.JSON {
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(rp.Body, &e) == nil {
		rp.Code = e.Error
	}
}

// String renders a result for the case's log line.
func (r result) String() string {
	var parts []string
	for _, rp := range r.Replies {
		s := fmt.Sprint(rp.Status)
		switch {
		case rp.Code != "":
			s += " " + rp.Code
		case rp.Status >= 400 && !rp.JSON:
			s += " (" + mediaType(rp.Header) + ")"
		}
		parts = append(parts, s)
	}
	s := strings.Join(parts, " + ")
	if s == "" {
		s = "no answer"
	}
	if r.Reset != "" {
		s += ", reset " + r.Reset
	}
	if r.Closed {
		s += ", closed"
	}
	return s
}

func mediaType(h http.Header) string {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	if ct == "" {
		return "no Content-Type"
	}
	return ct
}

// quote renders sent bytes for a log line: Go-quoted, long runs cut.
func quote(s string) string {
	const max = 72
	if len(s) > max {
		s = s[:max-12] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	q := fmt.Sprintf("%q", s)
	return q
}
