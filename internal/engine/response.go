package engine

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/wire"
)

// response is the http.ResponseWriter of one request. It follows net/http's
// rules (see doc.go); it is used by the handler's goroutine only, but for
// the 100 Continue a body read may send from another one (conn.cmu).
type response struct {
	c      *conn
	req    *http.Request
	body   *body
	header http.Header

	status      int
	wroteHeader bool // the final status is set and head holds the header
	sent        bool // the header went to the connection's writer
	handlerDone bool
	err         error // the first write error: every later write fails

	// head is the header as it was at WriteHeader, serialised, without
	// the lines decided when it is sent (framing, Connection, Date when
	// absent, a sniffed Content-Type).
	head           []byte
	contentLength  int64 // -1: unknown
	written        int64
	te             string
	connVals       []string
	hasType        bool
	hasDate        bool
	trailerDecl    []string
	clSeen, teSeen bool
	// fields is the list of WriteHeaderFields while WriteHeader runs.
	fields     []string
	chunking   bool
	closeAfter bool
	fullDuplex bool

	wants10KeepAlive bool
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

// Header returns the header map that WriteHeader sends.
func (w *response) Header() http.Header { return w.header }

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// WriteHeader sends an informational answer at once, or fixes the final
// status and header.
func (w *response) WriteHeader(code int) {
	if w.c.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.req.Close {
		w.closeAfter = true
	}
	w.snapshot()
}

// WriteHeaderFields is WriteHeader with more of the header given as a
// list, names and values alternating, sent after the header map's fields
// as if they had been added to it: a proxy relays an upstream's answer
// this way without building a map of it. A name the map has too is taken
// as the map's values followed by the list's, and the list's fields decide
// framing, Connection, Date and sniffing as the map's would. The list is
// read before WriteHeaderFields returns and not kept. Informational codes
// take the fields through the map (they are sent at once, and the map is
// restored for the final answer by whoever set it).
func (w *response) WriteHeaderFields(code int, fields []string) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		for i := 0; i+1 < len(fields); i += 2 {
			w.header[fields[i]] = append(w.header[fields[i]], fields[i+1])
		}
		w.WriteHeader(code)
		return
	}
	w.fields = fields
	w.WriteHeader(code)
	w.fields = nil
}

// snapshot serialises the header as it is now: the map, then the fields
// of WriteHeaderFields.
func (w *response) snapshot() {
	b := w.c.hbuf[:0]
	for k, vv := range w.header {
		if !w.decide(k, vv, true) {
			continue
		}
		for _, v := range vv {
			b = appendField(b, k, v)
		}
	}
	for i := 0; i+1 < len(w.fields); i += 2 {
		k, vv := w.fields[i], w.fields[i+1:i+2]
		if strings.HasPrefix(k, http.TrailerPrefix) {
			// A trailer set by key, sent at the end from the map.
			w.header[k] = append(w.header[k], vv[0])
			continue
		}
		if !w.decide(k, vv, false) {
			continue
		}
		b = appendField(b, k, vv[0])
	}
	w.head = b
	w.c.hbuf = b[:0]
}

// decide notes what field k with values vv says of framing, Connection,
// Date, Content-Type and trailers, and reports whether the field goes out
// as it is. A name seen again (the map's, then the list's) keeps the first
// framing value, as a map's first value is the one read, and adds to the
// Connection and Trailer values. keep says vv may be kept past the
// snapshot (the map's values; not the list's).
func (w *response) decide(k string, vv []string, keep bool) bool {
	switch k {
	case "Content-Length":
		if len(vv) > 0 && !w.clSeen {
			w.clSeen = true
			if n, err := strconv.ParseInt(strings.TrimSpace(vv[0]), 10, 64); err == nil && n >= 0 {
				w.contentLength = n
			}
		}
		return false
	case "Transfer-Encoding":
		if len(vv) > 0 && !w.teSeen {
			w.teSeen = true
			w.te = strings.ToLower(strings.TrimSpace(vv[0]))
		}
		return false
	case "Connection":
		if !keep {
			vv = slices.Clone(vv)
		}
		w.connVals = joinValues(w.connVals, vv)
		return false
	case "Content-Type":
		w.hasType = true
	case "Date":
		w.hasDate = true
	case "Trailer":
		if !keep {
			vv = slices.Clone(vv)
		}
		w.trailerDecl = joinValues(w.trailerDecl, vv)
	}
	return !strings.HasPrefix(k, http.TrailerPrefix) && wire.ValidFieldName(k)
}

// joinValues is a's values and then b's: b itself when a has none, else a
// new slice (neither is written).
func joinValues(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	return append(a[:len(a):len(a)], b...)
}

// appendField appends "k: v\r\n", with any CR or LF in v made a space so a
// value cannot start a header line of its own.
func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ':', ' ')
	start := len(b)
	b = append(b, v...)
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
		for i := start; i < len(b); i++ {
			if b[i] == '\r' || b[i] == '\n' {
				b[i] = ' '
			}
		}
	}
	return append(b, '\r', '\n')
}

func appendStatusLine(b []byte, http11 bool, code int) []byte {
	if http11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, '\r', '\n')
}

// writeInformational sends a 1xx answer with the header as it is now,
// which stays for the final answer (RFC 8297).
func (w *response) writeInformational(code int) {
	c := w.c
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if code == http.StatusContinue && w.body != nil {
		// The handler sends it itself: the body must not again.
		w.body.mu.Lock()
		w.body.continueSent = true
		w.body.mu.Unlock()
	}
	var tmp [64]byte
	c.bw.Write(appendStatusLine(tmp[:0], w.req.ProtoAtLeast(1, 1), code))
	var b []byte
	for k, vv := range w.header {
		if k == "Content-Length" || k == "Transfer-Encoding" || !wire.ValidFieldName(k) {
			continue
		}
		for _, v := range vv {
			b = appendField(b, k, v)
		}
	}
	c.bw.Write(b)
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

// Write writes body bytes, fixing the header first if need be.
func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength != -1 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	out := w.c.out
	if !w.sent {
		if len(out)+len(p) <= bufSize {
			if out == nil {
				out = make([]byte, 0, bufSize)
			}
			w.c.out = append(out, p...)
			return len(p), nil
		}
		w.send()
		if w.err != nil {
			return 0, w.err
		}
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeBody writes p after the header went out: as it is with a length or
// a close to end it, as chunks otherwise (buffered, one chunk per
// bufSize).
func (w *response) writeBody(p []byte) error {
	if w.req.Method == http.MethodHead {
		return nil
	}
	bw := w.c.bw
	if !w.chunking {
		_, err := bw.Write(p)
		return w.fail(err)
	}
	out := w.c.out
	if len(out)+len(p) <= bufSize {
		if out == nil {
			out = make([]byte, 0, bufSize)
		}
		w.c.out = append(out, p...)
		return nil
	}
	if err := w.flushChunk(); err != nil {
		return err
	}
	if len(p) >= bufSize {
		writeChunk(bw, p)
		return w.fail(nil)
	}
	w.c.out = append(w.c.out, p...)
	return nil
}

func writeChunk(bw *bufio.Writer, p []byte) {
	var tmp [20]byte
	bw.Write(strconv.AppendInt(tmp[:0], int64(len(p)), 16))
	bw.WriteString("\r\n")
	bw.Write(p)
	bw.WriteString("\r\n")
}

// flushChunk writes the buffered body bytes as one chunk.
func (w *response) flushChunk() error {
	if out := w.c.out; len(out) > 0 {
		writeChunk(w.c.bw, out)
		w.c.out = out[:0]
	}
	return w.fail(nil)
}

// fail records a write error.
func (w *response) fail(err error) error {
	if err == nil {
		if _, err = w.c.bw.Write(nil); err == nil {
			return nil
		}
	}
	if w.err == nil {
		w.err = err
		w.closeAfter = true
	}
	return w.err
}

// send writes the header, deciding the framing, then the body bytes
// buffered so far.
func (w *response) send() {
	c := w.c
	r := w.req
	isHEAD := r.Method == http.MethodHead
	allowed := bodyAllowed(w.status)
	out := c.out

	// The request body must be read to its end (or the connection
	// given up) before the answer, or a client that writes its whole
	// request before reading could wait forever.
	if b := w.body; b != nil && !w.closeAfter && !w.fullDuplex {
		if !b.finish(maxPostHandlerRead) {
			w.closeAfter = true
		}
	}

	hasCL := w.contentLength != -1
	if w.handlerDone && w.te == "" && allowed && !hasCL && (!isHEAD || len(out) > 0) && !w.trailers() {
		w.contentLength = int64(len(out))
		hasCL = true
	}

	if c.s.shutdown.Load() {
		// The connection ends after this answer: say so.
		w.closeAfter = true
	}
	keepAlive10 := false
	if w.wants10KeepAlive && (isHEAD || hasCL || !allowed) {
		if w.connVals == nil {
			keepAlive10 = true
		}
	} else if !r.ProtoAtLeast(1, 1) || r.Close {
		w.closeAfter = true
	}
	if hasToken(w.connVals, "close") {
		w.closeAfter = true
	}

	writeCL := false
	switch {
	case isHEAD || !allowed:
		writeCL = hasCL && w.status != http.StatusNoContent && w.status >= 200
	case hasCL:
		writeCL = true
	case r.ProtoAtLeast(1, 1):
		if w.te == "identity" {
			w.closeAfter = true
		} else {
			w.chunking = true
		}
	default:
		w.closeAfter = true
	}

	// The connection's scratch: a local array escapes into bw.Write.
	tmp := &c.tmp
	c.cmu.Lock()
	c.answered = true
	c.cmu.Unlock()
	bw := c.bw
	bw.Write(appendStatusLine(tmp[:0], r.ProtoAtLeast(1, 1), w.status))
	bw.Write(w.head)
	if writeCL {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(tmp[:0], w.contentLength, 10))
		bw.WriteString("\r\n")
	}
	if w.chunking {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switchProto := w.status == http.StatusSwitchingProtocols && w.header.Get("Upgrade") != ""
	switch {
	case w.closeAfter && !hasToken(w.connVals, "close") && !switchProto:
		if r.ProtoAtLeast(1, 1) {
			bw.WriteString("Connection: close\r\n")
		}
	case keepAlive10:
		bw.WriteString("Connection: keep-alive\r\n")
	default:
		for _, v := range w.connVals {
			bw.Write(appendField(tmp[:0], "Connection", v))
		}
	}
	if !w.hasDate {
		bw.WriteString("Date: ")
		bw.Write(c.date.get())
		bw.WriteString("\r\n")
	}
	if !w.hasType && allowed && len(out) > 0 && w.te == "" {
		bw.WriteString("Content-Type: ")
		bw.WriteString(http.DetectContentType(out))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	w.sent = true
	if len(out) > 0 {
		c.out = out[:0]
		if !isHEAD && allowed {
			if w.chunking {
				writeChunk(bw, out)
			} else {
				bw.Write(out)
			}
		}
	}
	w.fail(nil)
}

// trailers reports whether the answer has trailers: declared, or set
// with http.TrailerPrefix. send asks only when the answer could otherwise
// take a Content-Length, which saves a walk over the header on the others.
func (w *response) trailers() bool {
	if len(w.trailerDecl) > 0 {
		return true
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// Flush sends what was written so far.
func (w *response) Flush() { w.FlushError() }

// FlushError sends what was written so far; http.ResponseController
// prefers it to Flush.
func (w *response) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.send()
	} else if w.chunking {
		w.flushChunk()
	}
	if w.err != nil {
		return w.err
	}
	return w.fail(w.c.bw.Flush())
}

// finish completes the answer after the handler returned: the header if
// it has not gone out, the last chunk and trailers. It reports false when
// the answer could not be written; closeAfter says whether the connection
// must end after it.
func (w *response) finish() bool {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.send()
	} else if w.chunking {
		w.flushChunk()
	}
	bw := w.c.bw
	if w.chunking && w.req.Method != http.MethodHead {
		bw.WriteString("0\r\n")
		var tmp []byte
		for _, decl := range w.trailerDecl {
			for k := range strings.SplitSeq(decl, ",") {
				k = http.CanonicalHeaderKey(strings.TrimSpace(k))
				for _, v := range w.header[k] {
					tmp = appendField(tmp, k, v)
				}
			}
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && wire.ValidFieldName(name) {
				for _, v := range vv {
					tmp = appendField(tmp, name, v)
				}
			}
		}
		bw.Write(tmp)
		bw.WriteString("\r\n")
	}
	if w.req.Method != http.MethodHead && w.contentLength != -1 && bodyAllowed(w.status) && w.written != w.contentLength {
		// Fewer bytes than announced: the client must see the answer
		// cut, not wait for the rest or read the next answer as it.
		w.closeAfter = true
	}
	return w.fail(bw.Flush()) == nil
}

// Hijack hands the connection over (protocol upgrades).
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.wroteHeader && !w.sent {
		w.send()
	}
	rwc, brw := w.c.hijack()
	return rwc, brw, nil
}

// SetReadDeadline sets the connection's read deadline (for
// http.ResponseController).
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.idleUntil = time.Time{}
	return w.c.rwc.SetReadDeadline(t)
}

// SetWriteDeadline sets the connection's write deadline (for
// http.ResponseController).
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// EnableFullDuplex lets the handler read the request body while it
// writes the answer: the body is then not read to its end before the
// header goes out.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// dateCache formats the Date header once per second.
type dateCache struct {
	sec int64
	b   [len(http.TimeFormat)]byte
}

func (d *dateCache) get() []byte {
	now := time.Now()
	if s := now.Unix(); s != d.sec {
		d.sec = s
		now.UTC().AppendFormat(d.b[:0], http.TimeFormat)
	}
	return d.b[:]
}
