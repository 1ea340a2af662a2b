package engine

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// refusal is a request the parser refuses before any handler runs: the
// status and the message of the contract's JSON error. The connection is
// closed after it.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func badRequest(msg string) *refusal { return &refusal{http.StatusBadRequest, msg} }

var (
	errTooLarge     = &refusal{http.StatusRequestHeaderFieldsTooLarge, "request header block is larger than the limit"}
	errBareLF       = badRequest("request line or header line ends with a bare LF")
	errBareCR       = badRequest("request has a bare CR")
	errObsFold      = badRequest("request has a folded header line (obs-fold)")
	errHeaderLine   = badRequest("request has a malformed header line")
	errHeaderName   = badRequest("request has an invalid header name")
	errHeaderValue  = badRequest("request has an invalid header value")
	errRequestLine  = badRequest("malformed request line")
	errMethod       = badRequest("invalid request method")
	errTarget       = badRequest("invalid request target")
	errVersion      = badRequest("malformed HTTP version")
	errNoHost       = badRequest("missing required Host header")
	errManyHosts    = badRequest("too many Host headers")
	errBadHost      = badRequest("malformed Host header")
	errCLTE         = badRequest("request has both Transfer-Encoding and Content-Length")
	errTE10         = badRequest("HTTP/1.0 request has Transfer-Encoding")
	errBadCL        = badRequest("request has an invalid Content-Length")
	errDupCL        = badRequest("request has conflicting Content-Length values")
	errTrailerKey   = badRequest("request announces a trailer it may not have")
	errUnsupported  = &refusal{http.StatusHTTPVersionNotSupported, "unsupported HTTP version"}
	errTECoding     = &refusal{http.StatusNotImplemented, "unsupported transfer encoding"}
	errExpectation  = &refusal{http.StatusExpectationFailed, "unsupported Expect header"}
	errEmptyRequest = errors.New("connection closed before a request")
)

// head is a request's header block as read: the request line and the
// header lines, each without its CRLF, in one string that every parsed
// value slices (one allocation for all of them).
type head struct {
	block string
	// line is the request line's end in block; lines are the header
	// lines.
	line  int
	lines []span
	// names is what the hygiene acts on among the field names
	// (wire.Names, NamesKnown set), for a block without err.
	names wire.Names
	// err is the refusal of the first malformed header line, which
	// parseHeader returns: after the request line's own refusals, as
	// before the lines were checked while read.
	err error
}

// span is a header line in a head's block: its end, and its colon's index
// (-1 on a malformed line).
type span struct{ end, colon int }

// readHead reads one request's header block from br into scratch (reused
// by the caller, as lines is) and returns it. max bounds the block, CRLFs
// included. Lines must end in CRLF; a bare CR anywhere is refused.
//
// Each header line is checked as it is read (checkLine), in one pass over
// its name, which is made canonical in place before the block becomes a
// string, and one over its value, so parseHeader takes them as they are.
// The first malformed line's refusal waits in the head for parseHeader: a
// malformed block (too large, a bare LF or CR) and a malformed request
// line are refused first, whatever the header lines hold.
func readHead(br *bufio.Reader, scratch []byte, lines []span, max int) (head, []byte, []span, error) {
	buf := scratch[:0]
	lines = lines[:0]
	var lineErr error
	names := wire.NamesKnown
	for {
		start := len(buf)
		for {
			frag, err := br.ReadSlice('\n')
			if len(buf)+len(frag) > max {
				return head{}, buf, lines, errTooLarge
			}
			buf = append(buf, frag...)
			if err == nil {
				break
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if len(buf) == 0 {
				return head{}, buf, lines, errEmptyRequest
			}
			return head{}, buf, lines, err
		}
		// buf[start:] is one line with its LF.
		n := len(buf) - 1
		if n == start || buf[n-1] != '\r' {
			return head{}, buf, lines, errBareLF
		}
		if i := bytes.IndexByte(buf[start:n-1], '\r'); i >= 0 {
			return head{}, buf, lines, errBareCR
		}
		buf = buf[:n-1]
		if len(buf) == start {
			// The empty line ends the block.
			if len(lines) == 0 {
				// An empty request line.
				return head{}, buf, lines, errRequestLine
			}
			break
		}
		colon := -1
		if len(lines) > 0 && lineErr == nil {
			var class wire.Names
			if colon, class, lineErr = checkLine(buf[start:]); lineErr == nil {
				colon += start
				names |= class
			}
		}
		lines = append(lines, span{len(buf), colon})
	}
	h := head{block: string(buf), line: lines[0].end, lines: lines[1:], names: names, err: lineErr}
	return h, buf, lines, nil
}

// checkLine checks one header line (without its CRLF) as net/http's
// server would: not folded (obs-fold), a colon, a token before it and a
// valid value after it, in that order. It makes the name canonical in
// place (wire.CanonicalizeName: a name sent in another case, such as
// "x-api-key", then costs no string of its own) and returns the colon's
// index and the name's class for the hygiene.
func checkLine(line []byte) (colon int, class wire.Names, err error) {
	if line[0] == ' ' || line[0] == '\t' {
		return -1, 0, errObsFold
	}
	colon = bytes.IndexByte(line, ':')
	if colon < 0 {
		return -1, 0, errHeaderLine
	}
	class, ok := wire.CanonicalizeName(line[:colon])
	if !ok {
		return -1, 0, errHeaderName
	}
	if !wire.ValidFieldValue(wire.TrimOWS(line[colon+1:])) {
		return -1, 0, errHeaderValue
	}
	return colon, class, nil
}

// parseRequest fills r with the request of h: what net/http's server
// builds from the same bytes, or returns a refusal. It does not set Body,
// the context or RemoteAddr. (The caller's r is a value the context's
// WithContext copies once to the heap.) It returns which of the fields
// the engine acts on the client sent.
func parseRequest(h head, r *http.Request) (fields, error) {
	line := h.block[:h.line]
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return 0, errRequestLine
	}
	if !wire.ValidFieldName(method) { // a method is a token, as a name is
		return 0, errMethod
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return 0, errVersion
	}
	if major != 1 {
		return 0, errUnsupported
	}
	r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor = method, target, proto, major, minor
	if proto == "HTTP/1.1" {
		r.Proto = "HTTP/1.1"
	}
	raw := target
	authority := method == http.MethodConnect && !strings.HasPrefix(raw, "/")
	if authority {
		raw = "http://" + raw
	}
	u, err := parseTarget(raw)
	if err != nil {
		return 0, errTarget
	}
	if authority {
		u.Scheme = ""
	}
	r.URL = u

	hdr, hi, err := parseHeader(h)
	if err != nil {
		return 0, err
	}
	r.Header = hdr
	fs := hi.fields

	// Host (RFC 9112 §3.2): exactly one on HTTP/1.1, valid; an
	// absolute-form target's authority wins over it.
	switch {
	case hi.hosts > 1:
		return 0, errManyHosts
	case r.ProtoAtLeast(1, 1) && hi.hosts == 0 && method != http.MethodConnect:
		return 0, errNoHost
	case hi.hosts == 1 && !validHost(hi.host):
		return 0, errBadHost
	}
	r.Host = u.Host
	if r.Host == "" && hi.hosts == 1 {
		r.Host = hi.host
	}

	if fs&hasPragma != 0 {
		if pragma := hdr["Pragma"]; len(pragma) > 0 && pragma[0] == "no-cache" {
			if _, ok := hdr["Cache-Control"]; !ok {
				hdr["Cache-Control"] = []string{"no-cache"}
			}
		}
	}

	if fs&(hasTransferEncoding|hasContentLength) != 0 {
		if err := framing(r); err != nil {
			return 0, err
		}
	}
	r.Close = shouldClose(r, fs&hasConnection != 0)
	return fs, nil
}

// parseTarget is url.ParseRequestURI, which it calls for every target but
// the common origin form it can tell the result of by looking: a path of
// bytes that need no escaping (letters, digits and -._~$&+,/:;=@) and an
// optional query without control bytes. For those it builds the same URL
// (Path, RawQuery, ForceQuery) without ParseRequestURI's general parse;
// FuzzParseTarget holds the two equal.
func parseTarget(raw string) (*url.URL, error) {
	if raw == "" || raw[0] != '/' {
		return url.ParseRequestURI(raw)
	}
	i := 0
	for i < len(raw) && pathByte[raw[i]] {
		i++
	}
	if i == len(raw) {
		return &url.URL{Path: raw}, nil
	}
	if raw[i] != '?' {
		return url.ParseRequestURI(raw)
	}
	for j := i + 1; j < len(raw); j++ {
		if c := raw[j]; c < ' ' || c == 0x7f {
			return url.ParseRequestURI(raw)
		}
	}
	q := raw[i+1:]
	return &url.URL{Path: raw[:i], RawQuery: q, ForceQuery: q == ""}, nil
}

// pathByte holds the bytes a path may carry as they are: those
// url.URL.EscapedPath does not escape, but '%', whose escapes the slow way
// decodes.
var pathByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~$&+,/:;=@", byte(c)) >= 0
	}
	return t
}()

// framing reads the body framing of r from its header: ContentLength,
// TransferEncoding and Trailer, refusing what could be read two ways.
func framing(r *http.Request) error {
	hdr := r.Header
	te, haveTE := hdr["Transfer-Encoding"]
	cls := hdr["Content-Length"]
	if haveTE {
		if !r.ProtoAtLeast(1, 1) {
			return errTE10
		}
		if len(cls) > 0 {
			return errCLTE
		}
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return errTECoding
		}
		delete(hdr, "Transfer-Encoding")
		r.TransferEncoding = chunkedTE
		r.ContentLength = -1
		if vv, ok := hdr["Trailer"]; ok {
			delete(hdr, "Trailer")
			tr := make(http.Header)
			for _, v := range vv {
				for k := range strings.SplitSeq(v, ",") {
					k = wire.TrimOWS(k)
					if k == "" {
						continue
					}
					k = http.CanonicalHeaderKey(k)
					switch k {
					case "Transfer-Encoding", "Trailer", "Content-Length":
						return errTrailerKey
					}
					tr[k] = nil
				}
			}
			if len(tr) > 0 {
				r.Trailer = tr
			}
		}
		return nil
	}
	if len(cls) == 0 {
		return nil
	}
	first := cls[0]
	for _, v := range cls[1:] {
		if v != first {
			return errDupCL
		}
	}
	if len(cls) > 1 {
		hdr["Content-Length"] = cls[:1]
	}
	n, ok := parseLength(first)
	if !ok {
		return errBadCL
	}
	r.ContentLength = n
	return nil
}

var chunkedTE = []string{"chunked"}

// parseLength parses a Content-Length value: digits only, within int64.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			return 0, false
		}
	}
	return n, true
}

// shouldClose reports whether the client asked for the connection to end
// after this exchange: Connection: close, or HTTP/1.0 without keep-alive.
// hasConn says whether the request holds Connection at all.
func shouldClose(r *http.Request, hasConn bool) bool {
	var conn []string
	if hasConn {
		conn = r.Header["Connection"]
	}
	if hasToken(conn, "close") {
		return true
	}
	return r.ProtoMajor == 1 && r.ProtoMinor == 0 && !hasToken(conn, "keep-alive")
}

// expectation reads the request's Expect header as net/http's server does:
// its first value only, holding the token 100-continue (bounded by space,
// tab or comma) for an interim 100 before an HTTP/1.1 body; any other
// expectation is refused with 417.
func expectation(r *http.Request) (sendContinue bool, err error) {
	var v string
	if vv := r.Header["Expect"]; len(vv) > 0 {
		v = vv[0]
	}
	switch {
	case containsToken(v, "100-continue"):
		return r.ProtoAtLeast(1, 1) && r.ContentLength != 0, nil
	case v != "":
		return false, errExpectation
	}
	return false, nil
}

// containsToken reports whether v holds token, in any case, between
// boundaries (start, end, space, tab, comma).
func containsToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !tokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !tokenBoundary(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func tokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// hasToken reports whether the comma-separated lists vs hold token, in any
// case.
func hasToken(vs []string, token string) bool {
	for _, v := range vs {
		for len(v) > 0 {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(wire.TrimOWS(t), token) {
				return true
			}
		}
	}
	return false
}

// parseHeader parses h's header lines into a Header with canonical keys,
// but for Host, which net/http's server does not leave in the Header: its
// values are counted into hi, the first kept there (inserting it only to
// delete it again cost a hash, an insert and a delete per request). The
// values slice h.block. readHead has checked every line and made its
// name canonical; the first malformed line's refusal is returned here.
func parseHeader(h head) (hdr http.Header, hi headerInfo, err error) {
	if h.err != nil {
		return nil, hi, h.err
	}
	n := len(h.lines)
	hdr = make(http.Header, n)
	if n == 0 {
		return hdr, hi, nil
	}
	// One backing array for the first value of every key, as
	// net/textproto does.
	strs := make([]string, n)
	// A block of a few lines finds a repeated name among the names it
	// has read (a length compared, mostly), not by a map lookup per line;
	// a longer one looks each name up.
	var names [smallBlock]string
	seen := names[:0]
	start := h.line
	for _, l := range h.lines {
		key := h.block[start:l.colon] // canonical: readHead made it so
		v := wire.TrimOWS(h.block[l.colon+1 : l.end])
		start = l.end
		if key == "Host" {
			if hi.hosts == 0 {
				hi.host = v
			}
			hi.hosts++
			continue
		}
		if n > smallBlock || slices.Contains(seen, key) {
			if vv, ok := hdr[key]; ok {
				hdr[key] = append(vv, v)
				continue
			}
		} else {
			seen = append(seen, key)
		}
		strs[0] = v
		hdr[key] = strs[:1:1]
		strs = strs[1:]
		hi.fields |= fieldOf(key)
	}
	return hdr, hi, nil
}

// smallBlock is the most header lines parseHeader checks for repeats
// among themselves.
const smallBlock = 16

// fields records which of the header fields the engine acts on a request
// holds, set as parseHeader inserts them: the framing, connection and
// expectation decisions look up only the fields that are there (looking up
// an absent key in a small map costs a hash and a probe of every slot, and
// most requests hold none of these).
type fields uint8

const (
	hasContentLength fields = 1 << iota
	hasTransferEncoding
	hasConnection
	hasExpect
	hasPragma
)

// headerInfo is what parseHeader tells besides the Header: the fields
// recorded, and the Host lines (how many, the first's value).
type headerInfo struct {
	fields fields
	hosts  int
	host   string
}

// fieldOf returns the bit of the canonical field name key, 0 for a field
// not recorded.
func fieldOf(key string) fields {
	switch key {
	case "Content-Length":
		return hasContentLength
	case "Transfer-Encoding":
		return hasTransferEncoding
	case "Connection":
		return hasConnection
	case "Expect":
		return hasExpect
	case "Pragma":
		return hasPragma
	}
	return 0
}

// parseVersion parses "HTTP/x.y" as net/http does.
func parseVersion(v string) (major, minor int, ok bool) {
	switch v {
	case "HTTP/1.1":
		return 1, 1, true
	case "HTTP/1.0":
		return 1, 0, true
	}
	if len(v) != len("HTTP/X.Y") || !strings.HasPrefix(v, "HTTP/") || v[6] != '.' {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(v[5:6], 10, 0)
	min, err2 := strconv.ParseUint(v[7:8], 10, 0)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return int(maj), int(min), true
}

// hostByte is the set of bytes net/http accepts in a Host header.
var hostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return t
}()

func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostByte[h[i]] {
			return false
		}
	}
	return true
}
