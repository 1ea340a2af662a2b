package cache

import (
	"net/http"
	"strconv"
)

// capture is the writer the terminal answers into on a miss or a
// revalidation. It buffers an answer the cache may store, up to max bytes
// of body; any other answer (decide says no, or the body grows past max)
// it relays to the client writer w from there on ("passing"), and a
// background revalidation (w nil) discards.
//
// It belongs to the request's goroutine, except that 1xx answers, which
// ReverseProxy relays from the transport's goroutine, are dropped without
// touching its fields.
type capture struct {
	w      http.ResponseWriter
	header http.Header
	max    int64
	// decide reports whether an answer with this status and header is to
	// be buffered (the cache may store it).
	decide func(status int, h http.Header) bool
	// onPass is called once, when the answer turns out not to be stored.
	onPass func()

	status      int
	wroteHeader bool
	passing     bool
	body        []byte
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(code int) {
	if c.wroteHeader || code < 200 {
		return
	}
	c.wroteHeader, c.status = true, code
	if n, err := strconv.ParseInt(c.header.Get("Content-Length"), 10, 64); err == nil && n > c.max {
		c.pass()
		return
	}
	if !c.decide(code, c.header) {
		c.pass()
	}
}

// pass relays the answer so far to the client and the rest as it comes.
func (c *capture) pass() {
	c.passing = true
	if c.onPass != nil {
		c.onPass()
	}
	body := c.body
	c.body = nil
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.w == nil {
		return
	}
	copyHeader(c.w.Header(), c.header)
	c.w.Header().Set("X-Cache", Miss.header())
	c.w.WriteHeader(c.status)
	if len(body) > 0 {
		_, _ = c.w.Write(body)
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.passing {
		if c.w == nil {
			return len(p), nil
		}
		return c.w.Write(p)
	}
	c.body = append(c.body, p...)
	if int64(len(c.body)) > c.max {
		c.pass()
	}
	return len(p), nil
}

// FlushError flushes a relayed answer; a buffered one is sent whole later.
func (c *capture) FlushError() error {
	if c.passing && c.w != nil {
		return http.NewResponseController(c.w).Flush()
	}
	return nil
}

// Flush implements http.Flusher.
func (c *capture) Flush() { _ = c.FlushError() }

// copyHeader sets src's fields in dst, but not the gateway's request ID,
// which dst already carries. The values are shared, capped so that an
// append to dst's copy cannot write into src's.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if k == "X-Request-Id" {
			continue
		}
		dst[k] = vs[:len(vs):len(vs)]
	}
}
