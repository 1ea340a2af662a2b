package testkit

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// ReadResponses reads every HTTP/1 response that comes back on c: the
// first within first, each later one within later of the one before. The
// first answers a request of method; later ones are read as GETs' (pass ""
// for GET). closed reports whether the reading ended because the peer
// closed the connection (EOF or a reset) rather than by a timeout.
func ReadResponses(c net.Conn, method string, first, later time.Duration) (resps []*http.Response, bodies [][]byte, closed bool) {
	br := bufio.NewReader(c)
	deadline := time.Now().Add(first)
	for {
		c.SetReadDeadline(deadline)
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return resps, bodies, IsClosed(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resps = append(resps, resp)
		bodies = append(bodies, body)
		if err != nil {
			return resps, bodies, IsClosed(err)
		}
		deadline = time.Now().Add(later)
		method = ""
	}
}

// IsClosed reports whether a read error means the peer closed the
// connection, rather than a timeout.
func IsClosed(err error) bool {
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}
