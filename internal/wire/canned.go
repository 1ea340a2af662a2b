package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/jsonstr"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Go's HTTP/1 server answers a request it cannot parse (a malformed
// request line, an invalid header name or value, a bad Host, a header
// block over MaxHeaderBytes, an unknown transfer coding) by itself, before
// any Handler runs, with a canned text/plain response written straight to
// the connection in one Write:
//
//	HTTP/1.1 400 Bad Request: invalid header name\r\n
//	Content-Type: text/plain; charset=utf-8\r\n
//	Connection: close\r\n
//	\r\n
//	400 Bad Request: invalid header name
//
// The wrapped connection turns that Write into the contract's JSON error
// (Content-Type: application/json, an X-Request-ID, the same status and
// Connection: close), so every error a client gets from the gateway has one
// shape. Answering such requests in the wire layer instead would mean
// re-implementing all of net/http's request parsing to know which ones it
// refuses; recognising its answer is exact and keeps one parser.
//
// A Write is taken for a canned answer only when both hold:
//   - no response is in progress on the connection: no request has reached
//     the Handler (Check) since the server last reported the connection
//     idle (ConnState) or since it was accepted. net/http writes canned
//     answers only from its read loop, after the previous response was
//     flushed and before it calls the Handler again, while a response's
//     own bytes (an upstream body included, however it is chunked into
//     writes) are all written between Check and the next StateIdle;
//   - the Write is exactly a canned answer: the status line, the two
//     fixed header lines and a body repeating the status line.

// cannedHeaders is what follows the status line of every canned answer.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// ConnState records that a connection served by NewListener or Wrap is
// idle (its last response flushed); it has the signature of
// http.Server.ConnState and must be set there for canned answers to be
// rewritten after a connection's first request. Other connections are
// ignored.
func ConnState(c net.Conn, st http.ConnState) {
	if st != http.StateIdle {
		return
	}
	switch c := c.(type) {
	case *conn:
		c.idle.Store(true)
	case stateConn:
		c.idle.Store(true)
	}
}

// Write writes p to the wrapped connection, or the contract's JSON version
// of p when p is a canned answer of net/http's written while no response
// is in progress. It reports len(p) written when the replacement was.
func (c *conn) Write(p []byte) (int, error) {
	if !c.idle.Load() {
		return c.Conn.Write(p)
	}
	status, text, ok := parseCanned(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(Refusal(status, text)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// parseCanned reports whether p is exactly one of net/http's canned
// answers, and returns its status and the text after "Reason: " in its
// status line, if any ("Unsupported transfer encoding" for 501).
func parseCanned(p []byte) (status int, text string, ok bool) {
	const prefix = "HTTP/1.1 "
	if len(p) < len(prefix)+3 || string(p[:len(prefix)]) != prefix {
		return 0, "", false
	}
	i := bytes.Index(p, []byte(cannedHeaders))
	if i < 0 || bytes.IndexByte(p[:i], '\n') >= 0 {
		return 0, "", false
	}
	line, body := p[len(prefix):i], p[i+len(cannedHeaders):]
	code, err := strconv.Atoi(string(line[:3]))
	if err != nil || code < 400 || code > 599 || (len(line) > 3 && line[3] != ' ') {
		return 0, "", false
	}
	reason := http.StatusText(code)
	switch {
	case string(line) == strconv.Itoa(code)+" "+reason:
		// "400 Bad Request" and "431 Request Header Fields Too Large"
		// repeat the status line; 501 names the transfer coding problem.
		if string(body) == string(line) {
			return code, "", true
		}
		if code == http.StatusNotImplemented && string(body) == "Unsupported transfer encoding" {
			return code, "unsupported transfer encoding", true
		}
	case bytes.HasPrefix(line, []byte(strconv.Itoa(code)+" "+reason+": ")) && string(body) == string(line):
		return code, string(line[len(strconv.Itoa(code)+" "+reason+": "):]), true
	}
	return 0, "", false
}

// Refusal is the contract's error response, whole, to a request refused
// before any handler ran (net/http's canned answers, the gateway's own
// HTTP/1.1 server's refusals): status, the message text ("" for "malformed
// request") and Connection: close.
func Refusal(status int, text string) []byte {
	// The client's request is at fault whatever the status (505 is for an
	// HTTP version the server does not speak).
	code := pipeline.CodeBadRequest
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code = pipeline.CodeHeaderTooLarge
	case http.StatusNotImplemented:
		code = pipeline.CodeNotImplemented
	}
	msg := text
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		msg = "request header block is larger than the limit"
	case msg == "":
		msg = "malformed request"
	}
	id := cannedIDs.next()
	body := make([]byte, 0, 128+len(msg)+len(id))
	body = append(body, `{"status":`...)
	body = strconv.AppendInt(body, int64(status), 10)
	body = append(body, `,"error":`...)
	body = jsonstr.Append(body, code)
	body = append(body, `,"message":`...)
	body = jsonstr.Append(body, msg)
	body = append(body, `,"request_id":`...)
	body = jsonstr.Append(body, id)
	body = append(body, "}\n"...)

	b := make([]byte, 0, 256+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nContent-Type: application/json\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\nX-Content-Type-Options: nosniff\r\nX-Request-Id: "...)
	b = append(b, id...)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// cannedIDs makes the request IDs of canned answers, in the shape of the
// server's own (a random per-process prefix, a counter): the request never
// reached the server, which would have made one.
var cannedIDs = func() *idSource {
	var b [8]byte
	rand.Read(b[:])
	return &idSource{prefix: hex.EncodeToString(b[:])}
}()

type idSource struct {
	prefix string
	n      atomic.Uint64
}

func (s *idSource) next() string {
	b := make([]byte, 0, 40)
	b = append(b, s.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, s.n.Add(1), 36)
	return string(b)
}
