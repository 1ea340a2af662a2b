package engine

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/wire"
)

// Errors a request body's Read returns. They say the client's body is at
// fault: the server never blames an upstream for them.
var (
	errBodyClosed       = errors.New("engine: read on a closed request body")
	errBodyAfterHandler = errors.New("engine: request body read after its handler returned")
	errChunkSize        = errors.New("malformed chunked body: invalid chunk size")
	errChunkLine        = errors.New("malformed chunked body: chunk-size line too long")
	errChunkLF          = errors.New("malformed chunked body: line ends with a bare LF")
	errChunkCR          = errors.New("malformed chunked body: bare CR")
	errChunkData        = errors.New("malformed chunked body: chunk data not followed by CRLF")
	errChunkTrailer     = errors.New("malformed chunked body: malformed or oversized trailer")
	errChunkExcess      = errors.New("malformed chunked body: too much besides data")
	errUnexpectedEOF    = io.ErrUnexpectedEOF
)

const (
	// maxChunkLine bounds a chunk-size line, extensions included, without
	// its CRLF (net/http's reader gives up past its 4 KiB buffer).
	maxChunkLine = 4094
	// maxTrailer bounds the trailer section.
	maxTrailer = 4096
	// maxChunkDigits is the longest chunk size accepted, leading zeros
	// included.
	maxChunkDigits = 16
)

// body is a request body read from the connection's reader: a known length
// or chunked. It belongs to one request; the connection reads it to its end
// (or gives up) after the handler. Reads and Close may come from another
// goroutine than the connection's (a proxy streaming the body), so its
// state is under mu.
type body struct {
	mu sync.Mutex
	c  *conn
	br *bufio.Reader
	// remaining is what is left of a Content-Length body, or of the
	// current chunk.
	remaining int64
	chunked   bool
	// chunkDone says the current chunk's data was read and its CRLF is
	// next.
	chunkDone bool
	// excess is the chunked body's overhead (size lines, extensions,
	// CRLFs) beyond what its data pays for: 16 bytes and twice its size
	// per chunk, as net/http counts. Past 16 KiB the body is refused, so
	// a client cannot make the gateway read megabytes for a few bytes of
	// data.
	excess int64
	sawEOF bool
	closed bool
	// sealed is set once the handler returned: reads fail from then on.
	sealed atomic.Bool
	// err is the error that ended the body early: every later Read
	// returns it, and the connection is not reused.
	err error
	// continueSent and expect handle Expect: 100-continue: the interim
	// answer goes out before the first read.
	expect       bool
	continueSent bool
	req          *http.Request
}

// Read reads the body.
func (b *body) Read(p []byte) (int, error) {
	if b.sealed.Load() {
		return 0, errBodyAfterHandler
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.sealed.Load():
		return 0, errBodyAfterHandler
	case b.err != nil:
		return 0, b.err
	case b.sawEOF:
		return 0, io.EOF
	case b.closed:
		return 0, errBodyClosed
	}
	if b.expect && !b.continueSent {
		b.continueSent = true
		if err := b.c.writeContinue(); err != nil {
			b.err = err
			return 0, err
		}
	}
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readFixed(p)
	}
	if err == io.EOF {
		b.sawEOF = true
		b.c.bodyEOF()
	} else if err != nil {
		b.err = err
		if !isFraming(err) {
			// The connection failed under the body (reset, closed,
			// timed out): as with net/http, the request's context
			// ends, which tells a client gone from a malformed body.
			b.c.lost(err)
		}
	}
	return n, err
}

// isFraming reports whether err is a body the client framed wrong, rather
// than a connection that failed.
func isFraming(err error) bool {
	switch err {
	case errChunkSize, errChunkLine, errChunkLF, errChunkCR, errChunkData, errChunkTrailer, errChunkExcess:
		return true
	}
	return false
}

func (b *body) readFixed(p []byte) (int, error) {
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF {
		// The client closed the connection before the whole body.
		return n, errUnexpectedEOF
	}
	if err != nil {
		return n, err
	}
	if b.remaining == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (b *body) readChunked(p []byte) (int, error) {
	for {
		if b.remaining > 0 {
			if int64(len(p)) > b.remaining {
				p = p[:b.remaining]
			}
			n, err := b.br.Read(p)
			b.remaining -= int64(n)
			if err == io.EOF {
				return n, errUnexpectedEOF
			}
			if b.remaining == 0 {
				b.chunkDone = true
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if b.chunkDone {
			if err := b.readCRLF(); err != nil {
				return 0, err
			}
			b.chunkDone = false
		}
		size, n, err := b.readChunkSize()
		if err != nil {
			return 0, err
		}
		b.excess += int64(n) + 2 - 16 - 2*size
		if b.excess < 0 {
			b.excess = 0
		}
		if b.excess > 16<<10 {
			return 0, errChunkExcess
		}
		if size == 0 {
			if err := b.readTrailer(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		b.remaining = size
	}
}

// readCRLF reads the CRLF after a chunk's data.
func (b *body) readCRLF() error {
	c1, err := b.br.ReadByte()
	if err != nil {
		return eofIsUnexpected(err)
	}
	if c1 != '\r' {
		if c1 == '\n' {
			return errChunkLF
		}
		return errChunkData
	}
	c2, err := b.br.ReadByte()
	if err != nil {
		return eofIsUnexpected(err)
	}
	if c2 != '\n' {
		return errChunkCR
	}
	return nil
}

// readLine reads one CRLF-terminated line of at most max bytes (without
// the CRLF) and returns it without the CRLF. The slice is valid until the
// next read.
func (b *body) readLine(max int, tooLong error) ([]byte, error) {
	line, err := b.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, tooLong
	}
	if err != nil {
		return nil, eofIsUnexpected(err)
	}
	n := len(line) - 1
	if n == 0 || line[n-1] != '\r' {
		return nil, errChunkLF
	}
	line = line[:n-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, errChunkCR
	}
	if len(line) > max {
		return nil, tooLong
	}
	return line, nil
}

// readChunkSize reads a chunk-size line: hex digits, then optional
// extensions, which are ignored.
func (b *body) readChunkSize() (size int64, lineLen int, err error) {
	line, err := b.readLine(maxChunkLine, errChunkLine)
	if err != nil {
		return 0, 0, err
	}
	lineLen = len(line)
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= maxChunkDigits {
			return 0, 0, errChunkSize
		}
		size = size<<4 | int64(d)
	}
ext:
	if i == 0 || size < 0 {
		return 0, 0, errChunkSize
	}
	// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != ';' {
			return 0, 0, errChunkSize
		}
		for _, c := range rest {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return 0, 0, errChunkSize
			}
		}
	}
	return size, lineLen, nil
}

// readTrailer reads the trailer section and the final CRLF, and records
// valid trailer fields in the request's Trailer.
func (b *body) readTrailer() error {
	total := 0
	for {
		line, err := b.readLine(maxTrailer, errChunkTrailer)
		if err != nil {
			return err
		}
		total += len(line) + 2
		if total > maxTrailer {
			return errChunkTrailer
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errChunkTrailer
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !wire.ValidFieldName(line[:colon]) {
			return errChunkTrailer
		}
		v := string(wire.TrimOWS(line[colon+1:]))
		if !wire.ValidFieldValue(v) {
			return errChunkTrailer
		}
		key := http.CanonicalHeaderKey(string(line[:colon]))
		switch key {
		case "Transfer-Encoding", "Content-Length", "Trailer", "Host":
			// Framing and routing are not trailers' to change.
			continue
		}
		if b.req.Trailer == nil {
			b.req.Trailer = make(http.Header)
		}
		b.req.Trailer[key] = append(b.req.Trailer[key], v)
	}
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return errUnexpectedEOF
	}
	return err
}

// Close closes the body: later reads fail. What is left unread is the
// connection's to drop or not after the handler.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// finish is called by the connection after the handler: it reads and drops
// what is left of the body, up to limit bytes, and reports whether the
// connection may carry another request.
func (b *body) finish(limit int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return false
	}
	if b.sawEOF {
		return true
	}
	if b.expect && !b.continueSent {
		// The client waits for 100 Continue that never came: whatever
		// it sends next could be the body or another request.
		return false
	}
	if !b.chunked && b.remaining > limit {
		return false
	}
	var buf [512]byte
	var read int64
	for read <= limit {
		var n int
		var err error
		if b.chunked {
			n, err = b.readChunked(buf[:])
		} else {
			n, err = b.readFixed(buf[:])
		}
		read += int64(n)
		if err == io.EOF {
			b.sawEOF = true
			return true
		}
		if err != nil {
			b.err = err
			return false
		}
	}
	return false
}
