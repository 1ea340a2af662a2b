package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// The response reader: status line, header and body framing (RFC 9112
// sections 4 to 7), as strict as net/http's ReadResponse, whose behaviour
// it follows, and stricter where a gateway must be: obsolete line folding,
// a header name that is not a token (net/http lets "X-A B" through), a
// version other than HTTP/1.0 or 1.1, and a status under 100 are refused,
// and Content-Length next to Transfer-Encoding ends the connection. It exists because
// ReadResponse allocates a dozen objects per response; this one allocates
// the Response, one string holding the whole header, the header map and
// one slice for its values, or, when the caller asks for the header as a
// list, the Response and the string.

var (
	errMalformed = errors.New("h1: malformed response")
	errFolding   = errors.New("h1: response header uses obsolete line folding")
)

// answer is a response with its body reader and the first values of its
// header, allocated as one. vals holds the header map's values, or the
// header as a list (names and values alternating).
type answer struct {
	res  http.Response
	body body
	vals [16]string
}

// Answer is room for one answer (its response, body reader and first
// header values) that a caller lends a send through Outbound.Room, so the
// send allocates none: for a caller that keeps per-request state anyway.
// The room is one send's at a time: the response the send returns lives in
// it, and is the caller's to use until it lends the room again.
type Answer struct{ a answer }

// readResponse reads the response to req from c.br into a; the body is
// framed but not read. With asList, a final answer whose header holds no
// Connection, Transfer-Encoding or Trailer field and at most one
// Content-Length comes with its header as a list (returned; res.Header is
// nil): framing reads nothing else, so the list is all a caller needs. Any
// other answer comes with a header map and a nil list.
func (c *conn) readResponse(req *http.Request, a *answer, asList bool) (*http.Response, []string, error) {
	line, err := c.readLine(false)
	if err != nil {
		if err == io.EOF && c.read == 0 {
			return nil, nil, io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	a.res = http.Response{Request: req}
	res := &a.res
	if err := parseStatusLine(res, line); err != nil {
		return nil, nil, err
	}
	block, spans, err := c.readFields(false)
	if err != nil {
		return nil, nil, err
	}
	if asList && res.StatusCode >= 200 {
		if list, cl, ok := fieldList(block, spans, a.vals[:0]); ok {
			return res, list, frameBy(res, req, 0, cl)
		}
	}
	var fs fields
	res.Header, fs = headerMap(block, spans, a.vals[:0])
	if err := frame(res, req, fs); err != nil {
		return nil, nil, err
	}
	return res, nil, nil
}

// ListValue returns the first value of the field name in an answer's list
// (Outbound.Answer: names and values alternating), "" when it has none.
func ListValue(list []string, name string) string {
	for i := 0; i+1 < len(list); i += 2 {
		if list[i] == name {
			return list[i+1]
		}
	}
	return ""
}

// Value returns the first value of the field name in res's header: its
// map, or, when the header came as a list (res.Header nil), list.
func Value(res *http.Response, list []string, name string) string {
	if res.Header != nil {
		return wire.First(res.Header, name)
	}
	return ListValue(list, name)
}

// ListHeader returns the header map of an answer's list, a name's values
// in the list's order, for a caller that needs a map after all; the map's
// values are slices of the list (wire.AddList).
func ListHeader(list []string) http.Header {
	h := make(http.Header, len(list)/2)
	wire.AddList(h, list)
	return h
}

// fieldList returns the header of block and spans as a list of names and
// values alternating, in vals when it has room, with the Content-Length
// values; ok is false when the header holds a field framing reads besides
// one Content-Length (see readResponse).
func fieldList(block string, spans []span, vals []string) (list, cl []string, ok bool) {
	if cap(vals) >= 2*len(spans) {
		list = vals[:0]
	} else {
		list = make([]string, 0, 2*len(spans))
	}
	at := -1 // the Content-Length value's index in list
	for _, s := range spans {
		k := block[s.key:s.val]
		switch fieldOf(k) {
		case 0:
		case hasContentLength:
			if at >= 0 {
				return nil, nil, false
			}
			at = len(list) + 1
		default:
			return nil, nil, false
		}
		list = append(list, k, block[s.val:s.end])
	}
	if at >= 0 {
		cl = list[at : at+1 : at+1]
	}
	return list, cl, true
}

// parseStatusLine parses "HTTP/1.1 200 OK" into res.
func parseStatusLine(res *http.Response, line []byte) error {
	proto, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return fmt.Errorf("%w: status line %q", errMalformed, clip(line))
	}
	switch string(proto) {
	case "HTTP/1.1":
		res.Proto, res.ProtoMajor, res.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		res.Proto, res.ProtoMajor, res.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		return fmt.Errorf("%w: version %q", errMalformed, clip(proto))
	}
	rest = bytes.TrimLeft(rest, " ")
	code, _, _ := bytes.Cut(rest, []byte{' '})
	if len(code) != 3 || !digit(code[0]) || !digit(code[1]) || !digit(code[2]) || code[0] == '0' {
		return fmt.Errorf("%w: status code %q", errMalformed, clip(code))
	}
	res.StatusCode = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	res.Status = statusText(res.StatusCode, rest)
	return nil
}

// statusText returns the "200 OK" of a status line, without allocating
// for the reason phrases net/http knows.
func statusText(code int, rest []byte) string {
	if reason := rest[3:]; len(reason) > 1 && reason[0] == ' ' && string(reason[1:]) == http.StatusText(code) {
		if s := knownStatus[code]; s != "" {
			return s
		}
	}
	return string(rest)
}

// knownStatus holds "200 OK" and the like by code (parseStatusLine takes
// codes of three digits).
var knownStatus = func() (t [1000]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = strconv.Itoa(code) + " " + text
		}
	}
	return t
}()

func digit(b byte) bool { return '0' <= b && b <= '9' }

// readHeader reads header lines up to the empty line. The lines are copied
// into one buffer, canonicalised in place, and turned into one string that
// every key and value share.
func (c *conn) readHeader(crlf bool, vals []string) (http.Header, fields, error) {
	block, spans, err := c.readFields(crlf)
	if err != nil {
		return nil, 0, err
	}
	h, fs := headerMap(block, spans, vals)
	return h, fs, nil
}

// readFields reads header lines up to the empty line into one string,
// names canonical, and the spans of each name and value in it (the spans
// are the connection's, valid until its next read).
func (c *conn) readFields(crlf bool) (string, []span, error) {
	buf := c.hbuf[:0]
	spans := c.spans[:0]
	for {
		line, err := c.readLine(crlf)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", nil, err
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "", nil, errFolding
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return "", nil, fmt.Errorf("%w: header line %q", errMalformed, clip(line))
		}
		name := line[:colon]
		if !wire.ValidFieldName(name) {
			return "", nil, fmt.Errorf("%w: header name %q", errMalformed, clip(name))
		}
		value := wire.TrimOWS(line[colon+1:])
		if !wire.ValidFieldValue(value) {
			return "", nil, fmt.Errorf("%w: control character in header %q", errMalformed, clip(name))
		}
		ks := len(buf)
		buf = append(buf, name...)
		canonicalize(buf[ks:])
		vs := len(buf)
		buf = append(buf, value...)
		spans = append(spans, span{ks, vs, len(buf)})
	}
	c.hbuf, c.spans = buf, spans
	if len(spans) == 0 {
		return "", spans, nil
	}
	return string(buf), spans, nil
}

// headerMap builds the header map of block and spans, its values in vals
// when it has room, and records which of the fields frame reads it holds.
func headerMap(block string, spans []span, vals []string) (http.Header, fields) {
	h := make(http.Header, len(spans))
	if len(spans) == 0 {
		return h, 0
	}
	var fs fields
	// The values go into vals when it has room: no allocation for a
	// header of a few lines.
	if cap(vals) >= len(spans) {
		vals = vals[:len(spans)]
	} else {
		vals = make([]string, len(spans))
	}
	for i, s := range spans {
		k := block[s.key:s.val]
		vals[i] = block[s.val:s.end]
		// A header of a few lines finds a repeated name among the names
		// before it (a length compared, mostly), not by a map lookup
		// per line; a longer one looks each name up.
		if len(spans) > smallHeader || repeated(block, spans[:i], k) {
			if vv, ok := h[k]; ok {
				h[k] = append(vv, vals[i])
				continue
			}
		}
		h[k] = vals[i : i+1 : i+1]
		fs |= fieldOf(k)
	}
	return h, fs
}

type span struct{ key, val, end int }

// smallHeader is the most lines readHeader checks for repeated names
// among themselves.
const smallHeader = 16

// repeated reports whether name k is among the names of spans in block.
func repeated(block string, spans []span, k string) bool {
	for _, s := range spans {
		if s.val-s.key == len(k) && block[s.key:s.val] == k {
			return true
		}
	}
	return false
}

// fields records which of the fields frame reads a response holds, set as
// readHeader inserts them: frame looks up only those that are there (a
// lookup of an absent key in a small map costs a hash and a probe of every
// slot, and most answers hold only Content-Length of them).
type fields uint8

const (
	hasConnection fields = 1 << iota
	hasTransferEncoding
	hasContentLength
	hasTrailer
)

// fieldOf returns the bit of the canonical field name k, 0 for a field not
// recorded.
func fieldOf(k string) fields {
	switch k {
	case "Connection":
		return hasConnection
	case "Transfer-Encoding":
		return hasTransferEncoding
	case "Content-Length":
		return hasContentLength
	case "Trailer":
		return hasTrailer
	}
	return 0
}

// canonicalize turns a header name into its canonical form in place, as
// http.CanonicalHeaderKey does for valid names.
func canonicalize(k []byte) {
	upper := true
	for i, b := range k {
		switch {
		case upper && 'a' <= b && b <= 'z':
			k[i] = b - ('a' - 'A')
		case !upper && 'A' <= b && b <= 'Z':
			k[i] = b + ('a' - 'A')
		}
		upper = b == '-'
	}
}

// readLine returns the next line without its line ending: CRLF, or also
// a bare LF (as net/http accepts in a response header) unless crlf is set.
// It is valid until the next read.
func (c *conn) readLine(crlf bool) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A line longer than the buffer: gather it (the header limit
		// bounds it).
		long := append(c.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = c.br.ReadSlice('\n')
			long = append(long, line...)
		}
		c.long, line = long, long
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	} else if crlf {
		return nil, fmt.Errorf("%w: line ends with a bare LF", errMalformed)
	}
	return line, nil
}

// frame decides how res's body is delimited: RFC 9112 section 6.3. fs
// says which of the fields it reads res holds.
func frame(res *http.Response, req *http.Request, fs fields) error {
	var cl []string
	if fs&hasContentLength != 0 {
		cl = res.Header["Content-Length"]
	}
	return frameBy(res, req, fs&^hasContentLength, cl)
}

// frameBy is frame with the Content-Length values given: fs says which of
// the other fields frame reads res.Header holds. Without any of them, and
// with at most one Content-Length, it reads and changes nothing of
// res.Header, which may then be nil (readResponse's list).
func frameBy(res *http.Response, req *http.Request, fs fields, cl []string) error {
	h := res.Header
	var conn []string
	if fs&hasConnection != 0 {
		conn = h["Connection"]
	}
	res.Close = shouldClose(res.ProtoMinor, conn)
	var te []string
	chunked := false
	if fs&hasTransferEncoding != 0 {
		te, chunked = h["Transfer-Encoding"]
	}
	if chunked {
		delete(h, "Transfer-Encoding")
		if res.ProtoMinor == 0 {
			// HTTP/1.0 has no transfer codings; net/http ignores it too,
			// and the connection ends with the body.
			chunked, res.Close = false, true
		} else if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return fmt.Errorf("h1: unsupported transfer encoding %q", te)
		}
	}
	length, err := contentLength(cl)
	if err != nil {
		return err
	}
	if len(cl) > 1 {
		// Equal repeats are one value; forwarded twice they would not be.
		h["Content-Length"] = cl[:1:1]
	}
	if chunked {
		if length >= 0 {
			// Both framings (RFC 9112 section 6.3 item 3): chunked wins,
			// and the connection is not trusted with another message.
			delete(h, "Content-Length")
			res.Close = true
		}
		length = -1
		res.TransferEncoding = []string{"chunked"}
		if fs&hasTrailer != 0 {
			if err := declareTrailer(res); err != nil {
				return err
			}
		}
	}

	switch code := res.StatusCode; {
	case req.Method == http.MethodHead:
		res.ContentLength, res.Body = length, http.NoBody
		if chunked {
			res.ContentLength = -1
		}
		return nil
	case code < 200 || code == http.StatusNoContent || code == http.StatusNotModified:
		res.ContentLength, res.Body = 0, http.NoBody
		return nil
	}
	res.ContentLength = length
	switch {
	case chunked:
	case length == 0:
		res.Body = http.NoBody
	case length < 0:
		// Delimited by the end of the connection.
		res.Close = true
	}
	return nil
}

// shouldClose reports whether the connection ends after an answer of
// HTTP/1.minor with the Connection values conn, as net/http decides (RFC
// 9112 section 9.3).
func shouldClose(minor int, conn []string) bool {
	if minor == 0 {
		return wire.HasToken(conn, "close") || !wire.HasToken(conn, "keep-alive")
	}
	return wire.HasToken(conn, "close")
}

// contentLength returns the declared length, -1 for none; differing values
// are an error (RFC 9112 section 6.3 item 5), repeated equal ones are one.
func contentLength(values []string) (int64, error) {
	if len(values) == 0 {
		return -1, nil
	}
	first := strings.TrimSpace(values[0])
	for _, v := range values[1:] {
		if strings.TrimSpace(v) != first {
			return 0, fmt.Errorf("h1: response with differing Content-Length values %q", values)
		}
	}
	n, err := strconv.ParseUint(first, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("h1: bad Content-Length %q", first)
	}
	return int64(n), nil
}

// declareTrailer moves the Trailer header of a chunked response into
// res.Trailer, keys with nil values until the body's end fills them.
func declareTrailer(res *http.Response) error {
	vv, ok := res.Header["Trailer"]
	if !ok {
		return nil
	}
	delete(res.Header, "Trailer")
	t := make(http.Header)
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			k := http.CanonicalHeaderKey(strings.TrimSpace(f))
			switch k {
			case "":
				continue
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return fmt.Errorf("h1: bad trailer key %q", k)
			}
			t[k] = nil
		}
	}
	if len(t) > 0 {
		res.Trailer = t
	}
	return nil
}

// readTrailer reads the trailer section after the last chunk into res.
func (c *conn) readTrailer(res *http.Response, limit int64) error {
	c.limit = limit
	defer func() { c.limit = -1 }()
	// CRLF only, as net/http's chunked reader wants: a bare LF is how
	// one parser's trailer becomes another's next message.
	h, _, err := c.readHeader(true, nil)
	if err != nil {
		return err
	}
	if len(h) == 0 {
		return nil
	}
	if res.Trailer == nil {
		res.Trailer = make(http.Header, len(h))
	}
	for k, vv := range h {
		res.Trailer[k] = vv
	}
	return nil
}

func newChunkedReader(br *bufio.Reader) io.Reader { return httputil.NewChunkedReader(br) }

// clip shortens what an error quotes from the upstream.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
