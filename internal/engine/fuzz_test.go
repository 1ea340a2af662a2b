package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/wire"
)

// parsed is what one parser made of a request's bytes.
type parsed struct {
	req   *http.Request
	names wire.Names // the engine's classification of the field names
	body  []byte
	rest  []byte
	err   error
	stage string // "head" or "body" when err is set
}

// engineParse runs the engine's request path over data: readHead,
// parseRequest, the Expect check of serveOne and the body reader, on a
// conn that has no network under it (the body reader reaches it for
// bodyEOF and lost only, which do nothing while no handler runs).
func engineParse(data []byte) parsed {
	br := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
	c := &conn{s: &Server{}, br: br, bw: bufio.NewWriter(io.Discard), watchDone: make(chan struct{}, 1)}
	h, _, _, err := readHead(br, nil, nil, c.s.maxHeader())
	if err != nil {
		return parsed{err: err, stage: "head"}
	}
	r := new(http.Request)
	fs, err := parseRequest(h, r)
	if err != nil {
		return parsed{err: err, stage: "head"}
	}
	if fs&hasExpect != 0 {
		if _, err := expectation(r); err != nil {
			return parsed{err: err, stage: "head"}
		}
	}
	var b *body
	switch {
	case r.ContentLength > 0:
		b = &body{c: c, br: br, remaining: r.ContentLength, req: r}
	case r.ContentLength < 0:
		b = &body{c: c, br: br, chunked: true, req: r}
	}
	p := parsed{req: r, names: h.names}
	if b != nil {
		p.body, err = io.ReadAll(b)
		if err != nil {
			return parsed{req: r, err: err, stage: "body"}
		}
	}
	p.rest, _ = io.ReadAll(br)
	return p
}

// netHTTPParse runs net/http's reading of data: http.ReadRequest, then the
// checks its server adds (net/http server.go, conn.readRequest and
// conn.serve: protocol version, Host, header names and values, Expect),
// then the body.
func netHTTPParse(data []byte) parsed {
	br := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
	r, err := http.ReadRequest(br)
	if err != nil {
		return parsed{err: err, stage: "head"}
	}
	// ReadRequest drops the Host header; read the block again for it.
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	if _, err := tp.ReadLine(); err != nil {
		return parsed{err: err, stage: "head"}
	}
	raw, err := tp.ReadMIMEHeader()
	if err != nil {
		return parsed{err: err, stage: "head"}
	}
	hosts, haveHost := raw["Host"]
	isH2Upgrade := r.Method == "PRI" && len(r.Header) == 0 && r.URL.Path == "*" && r.Proto == "HTTP/2.0"
	switch {
	case !(r.ProtoMajor == 1 || r.ProtoMajor == 2 && r.ProtoMinor == 0 && r.Method == "PRI" && r.RequestURI == "*"):
		return parsed{err: errors.New("unsupported protocol version"), stage: "head"}
	case len(hosts) > 1:
		return parsed{err: errors.New("too many Host headers"), stage: "head"}
	case r.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && !isH2Upgrade && r.Method != "CONNECT":
		return parsed{err: errors.New("missing required Host header"), stage: "head"}
	case len(hosts) == 1 && !netHTTPValidHost(hosts[0]):
		return parsed{err: errors.New("malformed Host header"), stage: "head"}
	}
	for k, vv := range r.Header {
		if !wire.ValidFieldName(k) {
			return parsed{err: errors.New("invalid header name"), stage: "head"}
		}
		for _, v := range vv {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
					return parsed{err: errors.New("invalid header value"), stage: "head"}
				}
			}
		}
	}
	if ex := r.Header.Get("Expect"); ex != "" && !netHTTPHasToken(ex, "100-continue") {
		return parsed{err: errors.New("417"), stage: "head"}
	}
	p := parsed{req: r}
	p.body, err = io.ReadAll(r.Body)
	if err != nil {
		return parsed{req: r, err: err, stage: "body"}
	}
	p.rest, _ = io.ReadAll(br)
	return p
}

// netHTTPValidHost is golang.org/x/net/http/httpguts.ValidHostHeader,
// which net/http's server applies (copied: the module is not a
// dependency).
func netHTTPValidHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			strings.IndexByte("!$%&()*+,-.:;=['_]~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// netHTTPHasToken is net/http's hasToken (request.go): a case-insensitive
// search for token bounded by space, tab or comma.
func netHTTPHasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	bound := func(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !bound(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !bound(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

// strictClasses returns the classes of input the engine refuses on
// purpose where net/http accepts (doc.go, "What it accepts"), found in
// data's header block, with the engine errors each may cause.
func strictClasses(data []byte) map[error]string {
	out := map[error]string{}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if e := bytes.Index(data, []byte("\n\n")); e >= 0 && (end < 0 || e < end) {
		end = e
	}
	head := data
	if end >= 0 {
		head = data[:end+2]
	}
	for i, c := range head {
		if c == '\n' && (i == 0 || head[i-1] != '\r') {
			out[errBareLF] = "bare LF"
		}
		if c == '\r' && (i+1 >= len(head) || head[i+1] != '\n') {
			out[errBareCR] = "bare CR"
		}
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	var te, cl bool
	var cls []string
	for i, l := range lines {
		if i == 0 {
			continue
		}
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			out[errObsFold] = "obs-fold"
			continue
		}
		name, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if strings.TrimRight(name, " \t") != name {
			out[errHeaderName] = "header name followed by white space"
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "transfer-encoding":
			te = true
		case "content-length":
			cl = true
			cls = append(cls, strings.Trim(v, " \t"))
		}
	}
	if strings.HasPrefix(string(lines0(head)), "PRI * HTTP/2.0") {
		// The connection hands the preface to H2C before parsing; any
		// other PRI request is not HTTP/1.x.
		out[errUnsupported] = "HTTP/2 preface"
	}
	if te && cl {
		out[errCLTE] = "both Transfer-Encoding and Content-Length"
	}
	if te && bytes.Contains(lines0(head), []byte("HTTP/1.0")) {
		out[errTE10] = "Transfer-Encoding on HTTP/1.0"
	}
	for _, v := range cls {
		if v != cls[0] {
			out[errDupCL] = "conflicting Content-Length"
		}
	}
	if te {
		// A chunked body read strictly: bare LF, white space, bad
		// extensions or trailers that net/http's reader lets by.
		for _, e := range []error{errChunkSize, errChunkLine, errChunkLF, errChunkCR, errChunkData, errChunkTrailer, errChunkExcess} {
			out[e] = "chunked strictness"
		}
	}
	return out
}

func lines0(head []byte) []byte {
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		return head[:i]
	}
	return head
}

func trailerWithout(h http.Header, drop ...string) http.Header {
	out := http.Header{}
	for k, v := range h {
		if v == nil {
			continue // declared, not received
		}
		out[k] = v
	}
	for _, k := range drop {
		delete(out, k)
	}
	return out
}

// diffCheck holds the engine's reading of data to net/http's.
func diffCheck(t *testing.T, data []byte) {
	t.Helper()
	if len(data) > 32<<10 {
		return // both limits are larger; nothing framing-specific past them
	}
	e := engineParse(data)
	n := netHTTPParse(data)
	if e.err != nil && n.err != nil {
		return
	}
	switch {
	case e.err == nil && n.err != nil:
		t.Fatalf("engine accepts what net/http refuses (%s: %v)\ninput %q", n.stage, n.err, data)
	case e.err != nil && n.err == nil:
		classes := strictClasses(data)
		if class, ok := classes[e.err]; ok {
			t.Logf("engine refuses on purpose (%s): %v", class, e.err)
			return
		}
		t.Fatalf("engine refuses (%s: %v) what net/http accepts, outside the documented classes %v\ninput %q", e.stage, e.err, classes, data)
	}
	er, nr := e.req, n.req
	check := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: engine %#v, net/http %#v\ninput %q", what, a, b, data)
		}
	}
	check("Method", er.Method, nr.Method)
	check("RequestURI", er.RequestURI, nr.RequestURI)
	check("URL", er.URL.String(), nr.URL.String())
	check("Proto", [3]any{er.Proto, er.ProtoMajor, er.ProtoMinor}, [3]any{nr.Proto, nr.ProtoMajor, nr.ProtoMinor})
	check("Host", er.Host, nr.Host)
	check("Header", map[string][]string(er.Header), map[string][]string(nr.Header))
	check("ContentLength", er.ContentLength, nr.ContentLength)
	check("TransferEncoding", er.TransferEncoding, nr.TransferEncoding)
	check("Close", er.Close, nr.Close)
	check("body", string(e.body), string(n.body))
	check("rest", string(e.rest), string(n.rest))
	// The engine drops framing and routing fields sent as trailers;
	// net/http keeps them.
	check("Trailer", trailerWithout(er.Trailer), trailerWithout(nr.Trailer, "Transfer-Encoding", "Content-Length", "Trailer", "Host"))
	// The server skips the hygiene's walk on what the engine classified:
	// the classes must be those of every field net/http's server keeps.
	want := wire.NamesKnown
	for k := range nr.Header {
		want |= wire.NameClass(k)
	}
	check("names", e.names, want)
}

// diffSeeds are requests worth starting from: valid ones of every shape,
// and near misses of each class either parser refuses.
var diffSeeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /p?q=1&r=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nTrailer: X-Sum, X-Other\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 9\r\nX-Other: 1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nHost: evil\r\nContent-Length: 3\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
	"POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 \r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
	"GET http://example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n",
	"GET http://user@example.com:80/x HTTP/1.1\r\nHost: other\r\n\r\n",
	"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
	"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nExpect: 100-continue\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nExpect: foo 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", 8000) + "\r\n\r\n",
	"GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\nx-multi: 1\r\nX-Multi: 2\r\n\r\n",
	"POST / HTTP/1.1\r\nHOST: a\r\nCONTENT-LENGTH: 3\r\ncontent-length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nx-A_b-C: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX:  padded\t \r\nY:\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: \x80\xff obs-text\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost: a\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	"GET / HTTP/1.1\r\nHo st: a\r\n\r\n",
	"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
	"GET / HTTP/1.1\r\nHost:\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	"GET / HTTP/0.9\r\n\r\n",
	"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
	"GET / http/1.1\r\nHost: a\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
	"GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n",
	"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
	"get / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET //x/../y HTTP/1.1\r\nHost: a\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n",
	"",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"DELETE /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
}

func FuzzDifferential(f *testing.F) {
	for _, s := range diffSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		diffCheck(t, data)
	})
}

// TestDifferentialSeeds runs the seeds as named cases, so a plain go test
// reports which one disagrees.
func TestDifferentialSeeds(t *testing.T) {
	for _, s := range diffSeeds {
		name := s
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			diffCheck(t, []byte(s))
		})
	}
}

// FuzzParseTarget: parseTarget returns what url.ParseRequestURI returns,
// URL for URL, and fails where it fails.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a?b=c", "/a?", "/a??", "/?", "/a?b?c", "/%41", "/a b", "/a\x00", "/a?\x7f",
		"/é", "/a?é", "/a#frag", "//host/path", "///x", "*", "http://h/p", "/a;b=c,d:e@f$g&h+i", "/~user/._-", "/a/../b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gerr := parseTarget(s)
		want, werr := url.ParseRequestURI(s)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("parseTarget(%q) error %v, url.ParseRequestURI's %v", s, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("parseTarget(%q) = %#v, url.ParseRequestURI %#v", s, *got, *want)
		}
	})
}

// TestParseTargetEveryByte puts every byte value in a path, right after
// the first slash and later, and in a query, and compares with
// url.ParseRequestURI.
func TestParseTargetEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := string(rune(c))
		if c >= 0x80 {
			b = string([]byte{byte(c)})
		}
		for _, s := range []string{"/" + b, "/a/" + b + "/z", "/a?" + b, "/a?x=" + b + "&y", "/" + b + "?q"} {
			got, gerr := parseTarget(s)
			want, werr := url.ParseRequestURI(s)
			if (gerr == nil) != (werr == nil) || gerr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("parseTarget(%q) = %v, %v; url.ParseRequestURI %v, %v", s, got, gerr, want, werr)
			}
		}
	}
}

// TestHeaderNamesCanonical: names in any case come out as
// http.CanonicalHeaderKey makes them, names that are not tokens are
// refused, and a name sent in lower case costs no allocation more than
// the same name sent canonical.
func TestHeaderNamesCanonical(t *testing.T) {
	names := []string{"x-api-key", "X-API-KEY", "content-TYPE", "accept", "x-b3-traceid", "foo_bar", "a", "-x-", "x--y", "ÿ", "X-Api-Key"}
	for _, n := range names {
		p := engineParse([]byte("GET / HTTP/1.1\r\nHost: h\r\n" + n + ": v\r\n\r\n"))
		want := http.CanonicalHeaderKey(n)
		valid := wire.ValidFieldName(n)
		switch {
		case !valid:
			if p.err == nil {
				t.Errorf("%q: accepted, want refused", n)
			}
		case p.err != nil:
			t.Errorf("%q: %v", n, p.err)
		case len(p.req.Header[want]) != 1 || len(p.req.Header) != 1:
			t.Errorf("%q: header %v, want one %q", n, p.req.Header, want)
		}
	}
	allocs := func(name string) float64 {
		data := []byte("GET / HTTP/1.1\r\nHost: h\r\n" + name + ": v\r\nx-request-id: 1\r\n\r\n")
		return testing.AllocsPerRun(100, func() {
			br := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
			h, _, _, err := readHead(br, make([]byte, 0, 256), make([]span, 0, 8), 8<<10)
			if err != nil {
				t.Fatal(err)
			}
			var r http.Request
			if _, err := parseRequest(h, &r); err != nil {
				t.Fatal(err)
			}
		})
	}
	if lower, canon := allocs("x-custom-field"), allocs("X-Custom-Field"); lower != canon {
		t.Errorf("%v allocations with lower-case names, %v with canonical ones", lower, canon)
	}
}

// FuzzFields holds parseHeader's record of the fields the engine acts on
// to the header it builds: a bit is set exactly when its field is in the
// map, whatever the case or number of the lines that carry it.
func FuzzFields(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: chunked\r\nTrailer: X\r\n\r\n",
		"GET / HTTP/1.0\r\nconnection: keep-alive\r\nPragma: no-cache\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: a\r\nexpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\nConnection-X: 1\r\nExpect-: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	names := map[string]fields{
		"Content-Length": hasContentLength, "Transfer-Encoding": hasTransferEncoding,
		"Connection": hasConnection, "Expect": hasExpect, "Pragma": hasPragma,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
		h, _, _, err := readHead(br, nil, nil, 64<<10)
		if err != nil {
			return
		}
		hdr, hi, err := parseHeader(h)
		if err != nil {
			return
		}
		fs := hi.fields
		if _, ok := hdr["Host"]; ok {
			t.Fatalf("parseHeader(%q) left Host in the header", data)
		}
		var want fields
		for name, bit := range names {
			if _, ok := hdr[name]; ok {
				want |= bit
			}
		}
		if fs != want {
			t.Fatalf("parseHeader(%q) recorded fields %05b, its header holds %05b", data, fs, want)
		}
	})
}

// Repeated names join one key's values in order, in a block of a few
// lines (found among the names read) and in a longer one (looked up).
func TestRepeatedNames(t *testing.T) {
	for _, n := range []int{3, smallBlock - 1, smallBlock, smallBlock + 5} {
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\nHost: a\r\nX-Rep: first\r\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "X-F%d: %d\r\n", i, i)
		}
		b.WriteString("x-rep: second\r\n\r\n")
		p := engineParse([]byte(b.String()))
		if p.err != nil {
			t.Fatalf("%d lines: %v", n, p.err)
		}
		if got := p.req.Header["X-Rep"]; !slices.Equal(got, []string{"first", "second"}) {
			t.Errorf("%d lines: X-Rep = %q, want both values in order", n, got)
		}
		if len(p.req.Header) != n+1 {
			t.Errorf("%d lines: %d keys, want %d", n, len(p.req.Header), n+1)
		}
	}
}
