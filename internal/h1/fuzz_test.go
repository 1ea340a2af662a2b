package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzWriteRequest checks that whatever writeRequest accepts (of what
// Supports lets through) an upstream reads back as the same request: same
// target, Host, header and body, and no header line or request of its own
// injected.
func FuzzWriteRequest(f *testing.F) {
	f.Add("GET", "/v1/orders", "", "id=7&sort=desc", false, "Accept-Language", "de-CH", "", "")
	f.Add("", "", "", "", true, "User-Agent", "", "api.example.com", "")
	f.Add("POST", "/v1/orders", "", "", false, "Content-Type", "application/json", "shop.example.com:8443", `{"sku":"A-1"}`)
	f.Add("PUT", "/files/annual report?.pdf", "", "", false, "Content-Length", "999", "", "x")
	f.Add("PATCH", "/repos/a/b", "/repos/a%2Fb", "q=caf%C3%A9", false, "Transfer-Encoding", "chunked", "", "{}")
	f.Add("DELETE", "//evil.example/x", "", "a=1#frag", false, "X-Note", "a\r\nX-Admin: true", "", "")
	f.Add("GET", "/", "", "", false, "X-Admin: true\r\nX-Note", "a", "", "")
	f.Add("OPTIONS", "/%zz", "/%zz", "", false, "Pragma", "no-cache", "a\r\nb", "")
	f.Add("HEAD", "/ü", "", "ü=1", false, "X-Padding", "  spaced\tvalue  ", "[::1]:8080", "")
	f.Add("GET", "/a", "", "", false, "Host", "evil.example", "", "GET /admin HTTP/1.1\r\n\r\n")
	f.Fuzz(func(t *testing.T, method, path, rawPath, query string, force bool, name, value, host, body string) {
		u := &url.URL{Scheme: "http", Host: "10.0.0.7:8080", Path: path, RawPath: rawPath, RawQuery: query, ForceQuery: force}
		h := http.Header{"Accept": {"application/json"}}
		h.Add(name, value)
		req := &http.Request{Method: method, URL: u, Header: h, Host: host}
		if body != "" {
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		}
		if !(&Transport{}).Supports(req) {
			return
		}
		raw, err := write(req)
		if err != nil {
			return
		}

		src := bufio.NewReader(strings.NewReader(raw))
		got, err := http.ReadRequest(src)
		if err != nil {
			t.Fatalf("writeRequest() wrote %q, which does not parse: %v", raw, err)
		}
		wantMethod := method
		if wantMethod == "" {
			wantMethod = "GET"
		}
		target := u.EscapedPath()
		if target == "" {
			target = "/"
		}
		if force || query != "" {
			target += "?" + query
		}
		wantHost := host
		if wantHost == "" {
			wantHost = u.Host
		}
		if got.Method != wantMethod || got.RequestURI != target || got.Host != wantHost {
			t.Errorf("read back %s %s Host %q, want %s %s Host %q (wire %q)", got.Method, got.RequestURI, got.Host, wantMethod, target, wantHost, raw)
		}
		wantPath := path
		if wantPath == "" {
			wantPath = "/"
		}
		if got.URL.Path != wantPath || got.URL.RawQuery != query {
			t.Errorf("read back path %q query %q, want %q %q", got.URL.Path, got.URL.RawQuery, wantPath, query)
		}

		want := http.Header{}
		for k, vs := range h {
			switch k {
			case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
				continue
			case "User-Agent":
				if vs[0] == "" {
					continue
				}
			}
			for _, v := range vs {
				want.Add(k, strings.Trim(v, " \t"))
			}
		}
		// net/http's rule (TestWriteRequest): a body has a length, and so
		// do the methods servers expect one for; a DELETE, OPTIONS or
		// TRACE without a body gets none.
		n := int64(len(body))
		if n > 0 || wantMethod == "POST" || wantMethod == "PUT" || wantMethod == "PATCH" {
			want.Set("Content-Length", strconv.FormatInt(n, 10))
		}
		gotHeader := got.Header.Clone()
		if want.Get("Pragma") == "no-cache" && want.Get("Cache-Control") == "" {
			// ReadRequest adds it (RFC 7234 section 5.4).
			gotHeader.Del("Cache-Control")
		}
		if diff := cmp.Diff(want, gotHeader); diff != "" {
			t.Errorf("header read back from %q (-want +got):\n%s", raw, diff)
		}

		b, err := io.ReadAll(got.Body)
		if err != nil || string(b) != body {
			t.Errorf("body read back = %q, %v; want %q", b, err, body)
		}
		if rest, _ := io.ReadAll(src); len(rest) > 0 {
			t.Errorf("bytes past the request: %q", rest)
		}
	})
}

// FuzzResponse serves fuzzed bytes as an upstream's answer and checks that
// Transport reads what http.ReadResponse reads from the same bytes: the
// same final answer (after at most five informational ones), header, body
// and trailer, or an error from both. Transport's reader is stricter than
// ReadResponse on purpose in a few ways (see strictness), which are the
// only differences allowed.
func FuzzResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Late: 1\r\nX-Late: 2\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nuntil close"), false)
	f.Add([]byte("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"), false)
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"), false)
	f.Add([]byte(strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 6)+"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length:  5\r\n\r\nhello"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nempty length"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-A\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-Bad: a\nb\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\n: no name\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-Ctl: a\x01b\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nx-lower-case: v \t\r\ncontent-length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 2000 OK\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-Long: "+strings.Repeat("v", 5000)+"\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte(""), false)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatalf("Listen() error: %v", err)
	}
	f.Cleanup(func() { ln.Close() })
	// Each connection carries one exchange, answered with the bytes of the
	// round that opened it; rounds run one at a time.
	var answer atomic.Pointer[[]byte]
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(wait))
				if _, err := readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				c.Write(*answer.Load())
			}()
		}
	}()
	const maxBody = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		if len(data) > 64<<10 {
			return
		}
		method := "GET"
		if head {
			method = "HEAD"
		}
		answer.Store(&data)

		want, wantInfo, wantErr := readResponses(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: method})
		var wantBody []byte
		var wantBodyErr error
		if wantErr == nil {
			wantBody, wantBodyErr = io.ReadAll(io.LimitReader(want.Body, maxBody))
		}

		for _, asList := range []bool{false, true} {
			func() {
				tr := &Transport{ResponseHeaderTimeout: wait}
				defer tr.CloseIdleConnections()
				ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
				defer cancel()
				var in informed
				// Both ways to read the header: a map, and a list when the
				// answer allows one (Outbound.List), which must read the same.
				ob := &Outbound{List: asList}
				got, err := tr.SendOutbound(ctx, newRequest(t, method, "http://"+ln.Addr().String()+"/", ""), ob, &in)
				if err == nil && got.Header == nil {
					if !asList {
						t.Fatalf("Send() answered without a header map")
					}
					got.Header = listHeader(t, ob.Answer)
				} else if err == nil && ob.Answer != nil {
					t.Fatalf("SendOutbound() gave both a header map and a list")
				}
				blocks := headerBlocks(data, wantInfo+1)
				if spacedName(data) {
					return
				}
				strict := strictnessOf(blocks)
				switch {
				case err != nil && wantErr == nil:
					var oe *net.OpError
					if errors.As(err, &oe) && oe.Op == "dial" {
						// Loopback ran out of ports, say: not the answer's fault.
						t.Skipf("Send() error: %v", err)
					}
					if strict.refuse {
						return
					}
					t.Fatalf("Send() error = %v; ReadResponse read %d %v", err, want.StatusCode, want.Header)
				case err == nil && wantErr != nil:
					got.Body.Close()
					t.Fatalf("Send() = %d %v; ReadResponse error = %v", got.StatusCode, got.Header, wantErr)
				}
				if len(in.codes) != wantInfo && !strict.refuse {
					t.Errorf("Informer saw %v, ReadResponse read %d informational answers", in.codes, wantInfo)
				}
				if err != nil {
					return
				}
				defer got.Body.Close()
				gotBody, gotBodyErr := io.ReadAll(io.LimitReader(got.Body, maxBody))
				if errors.Is(gotBodyErr, context.DeadlineExceeded) {
					t.Fatalf("reading the body timed out")
				}

				// ReadResponse drops "Connection: close" once it has set Close.
				wantHeader, gotHeader := want.Header.Clone(), got.Header.Clone()
				wantHeader.Del("Connection")
				gotHeader.Del("Connection")
				wantLength, wantClose := want.ContentLength, want.Close
				if strict.closes {
					wantClose = true
				}
				if strict.bothFramings {
					// Chunked wins and the Content-Length goes; ReadResponse
					// keeps it for answers without a body.
					wantHeader.Del("Content-Length")
					if len(want.TransferEncoding) > 0 {
						wantLength = got.ContentLength
					}
				}
				if got.StatusCode != want.StatusCode || got.Status != want.Status || got.Proto != want.Proto ||
					got.ContentLength != wantLength || got.Close != wantClose || !slices.Equal(got.TransferEncoding, want.TransferEncoding) {
					t.Errorf("Send() = %q %s length %d close %v TE %q; ReadResponse = %q %s length %d close %v TE %q",
						got.Status, got.Proto, got.ContentLength, got.Close, got.TransferEncoding,
						want.Status, want.Proto, wantLength, wantClose, want.TransferEncoding)
				}
				if diff := cmp.Diff(wantHeader, gotHeader); diff != "" {
					t.Errorf("header (-ReadResponse +Send):\n%s", diff)
				}
				if !bytes.Equal(gotBody, wantBody) || (gotBodyErr != nil) != (wantBodyErr != nil) {
					// The trailer must end its lines with CRLF (readTrailer);
					// ReadResponse takes a bare LF there.
					lax := len(want.TransferEncoding) > 0 && bareLF(data)
					if !((strict.refuse || lax) && gotBodyErr != nil && wantBodyErr == nil) {
						t.Errorf("body = %q, %v; ReadResponse's = %q, %v", gotBody, gotBodyErr, wantBody, wantBodyErr)
					}
				}
				if diff := cmp.Diff(want.Trailer, got.Trailer, cmpopts.EquateEmpty()); diff != "" && gotBodyErr == nil {
					t.Errorf("trailer (-ReadResponse +Send):\n%s", diff)
				}
			}()
		}
	})
}

// readResponses reads the final answer as Transport should: past at most
// five informational ones, and none may be 101. It returns how many
// informational answers it read.
func readResponses(br *bufio.Reader, req *http.Request) (*http.Response, int, error) {
	for n := 0; ; n++ {
		res, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, n, err
		}
		switch {
		case res.StatusCode < 100 || res.StatusCode >= 200:
			return res, n, nil
		case res.StatusCode == http.StatusSwitchingProtocols:
			return nil, n, errors.New("101")
		case n == 5:
			return nil, n, errors.New("too many informational answers")
		}
	}
}

// headerBlocks returns the lines of the first n header sections of data:
// a status line and header lines, up to an empty line.
func headerBlocks(data []byte, n int) [][]string {
	var blocks [][]string
	var cur []string
	for len(blocks) < n && len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			blocks = append(blocks, cur)
			cur = nil
			continue
		}
		cur = append(cur, string(line))
	}
	if cur != nil {
		blocks = append(blocks, cur)
	}
	return blocks
}

// strictness says where Transport's reader differs from ReadResponse on
// purpose: it refuses obsolete line folding, versions other than HTTP/1.0
// and 1.1 and status codes under 100; it does not trust the connection
// after a final answer with both Content-Length and Transfer-Encoding, or
// with Transfer-Encoding in HTTP/1.0.
type strictness struct {
	refuse       bool
	closes       bool
	bothFramings bool
}

func strictnessOf(blocks [][]string) strictness {
	var s strictness
	for i, b := range blocks {
		if len(b) == 0 {
			continue
		}
		proto, status, _ := strings.Cut(b[0], " ")
		if proto != "HTTP/1.0" && proto != "HTTP/1.1" {
			s.refuse = true
		}
		if code, _, _ := strings.Cut(strings.TrimLeft(status, " "), " "); len(code) == 3 && code < "100" {
			s.refuse = true
		}
		var cl, te bool
		for _, line := range b[1:] {
			if line[0] == ' ' || line[0] == '\t' {
				s.refuse = true
			}
			name, _, _ := strings.Cut(line, ":")
			cl = cl || strings.EqualFold(name, "Content-Length")
			te = te || strings.EqualFold(name, "Transfer-Encoding")
		}
		if i == len(blocks)-1 && te {
			// HTTP/1.0 has no transfer codings: both readers ignore
			// Transfer-Encoding there, and a Content-Length stays.
			s.bothFramings = cl && proto == "HTTP/1.1"
			s.closes = cl || proto == "HTTP/1.0"
		}
	}
	return s
}

// spacedName reports whether a header or trailer line has a name with a
// space, which Transport refuses on purpose and ReadResponse lets through.
func spacedName(data []byte) bool {
	// Trailers have header lines too; a body line may look like one.
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if name, _, ok := bytes.Cut(line, []byte(":")); ok && bytes.Contains(name, []byte(" ")) {
			return true
		}
	}
	return false
}

// bareLF reports whether a line of data ends in LF alone.
func bareLF(data []byte) bool {
	for i, b := range data {
		if b == '\n' && (i == 0 || data[i-1] != '\r') {
			return true
		}
	}
	return false
}

// FuzzResponseSequence serves fuzzed bytes as the answers to consecutive
// requests on one connection and checks that Transport frames them where
// http.ReadResponse does: the bytes are cut into one segment per answer by
// ReadResponse (at most 1 + bits 4 and 5 of heads, informational answers
// included in the segment of their final one), the
// upstream sends segment i to request i whichever connection it comes on,
// and Transport must read answer i as ReadResponse read it, or fail where
// it failed. Request i is a HEAD when bit i of heads is set. The bytes
// ReadResponse left after the last answer (or after one that ends the
// connection) go with that answer, in the same write or, when late is set,
// a moment later while the connection is idle; they must never be read as
// an answer: one more request then gets the upstream's own answer.
func FuzzResponseSequence(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes"), byte(0x10), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"), byte(0), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\npoison!"), byte(0x31), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\npoison!"), byte(1), true)
	f.Add([]byte("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\npoison!"), byte(0), false)
	f.Add([]byte("HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), byte(0x10), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\ngarbage"), byte(0), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), byte(0x30), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"), byte(0), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"), byte(0), false)
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"), byte(0x20), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"), byte(0x10), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"), byte(0x30), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nuntil close"), byte(0), false)
	f.Add([]byte("HTTP/1.1 200 OK\nContent-Length: 1\n\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"), byte(0x12), false)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatalf("Listen() error: %v", err)
	}
	f.Cleanup(func() { ln.Close() })
	// Rounds run one at a time; requests are numbered across connections.
	var round atomic.Pointer[sequence]
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(wait))
				br := bufio.NewReader(c)
				// A connection belongs to the round of its first request:
				// each round has its own Transport.
				var seq *sequence
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					if seq == nil {
						seq = round.Load()
					}
					if !seq.answer(c) {
						return
					}
				}
			}()
		}
	}()
	const fresh = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"
	f.Fuzz(func(t *testing.T, data []byte, heads byte, late bool) {
		if len(data) > 16<<10 {
			return
		}
		seq := cutSequence(data, heads)
		seq.late = late
		seq.fresh = fresh
		seq.sent = make(chan struct{}, 1)
		round.Store(seq)

		tr := &Transport{ResponseHeaderTimeout: time.Second}
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for i, want := range seq.answers {
			method := "GET"
			if want.head {
				method = "HEAD"
			}
			var in informed
			// Every other answer is read as a list (Outbound.List): the
			// framing, and so the connection's reuse, must not depend on it.
			got, err := tr.SendOutbound(ctx, newRequest(t, method, "http://"+ln.Addr().String()+"/", ""), &Outbound{List: i%2 == 1}, &in)
			strict := strictnessOf(headerBlocks(want.seg, want.info+1))
			if spacedName(want.seg) {
				return
			}
			switch {
			case err != nil && want.err == nil:
				var oe *net.OpError
				if errors.As(err, &oe) && oe.Op == "dial" {
					t.Skipf("Send() error: %v", err)
				}
				if strict.refuse {
					return
				}
				t.Fatalf("answer %d: Send(%s) error = %v; ReadResponse read %d %v from %q", i, method, err, want.res.StatusCode, want.res.Header, want.seg)
			case err == nil && want.err != nil:
				got.Body.Close()
				t.Fatalf("answer %d: Send(%s) = %d %v; ReadResponse error = %v on %q", i, method, got.StatusCode, got.Header, want.err, want.seg)
			case err != nil:
				return
			}
			body, bodyErr := io.ReadAll(got.Body)
			got.Body.Close()
			if errors.Is(bodyErr, context.DeadlineExceeded) {
				t.Fatalf("answer %d: reading the body timed out (framed longer than ReadResponse's %q)", i, want.seg)
			}
			if got.StatusCode != want.res.StatusCode {
				t.Errorf("answer %d: Send(%s) = %d; ReadResponse = %d from %q", i, method, got.StatusCode, want.res.StatusCode, want.seg)
			}
			if !bytes.Equal(body, want.body) || (bodyErr != nil) != (want.bodyErr != nil) {
				lax := len(want.res.TransferEncoding) > 0 && bareLF(want.seg)
				if !((strict.refuse || lax) && bodyErr != nil && want.bodyErr == nil) {
					t.Errorf("answer %d: body = %q, %v; ReadResponse's = %q, %v from %q", i, body, bodyErr, want.body, want.bodyErr, want.seg)
				}
			}
			if bodyErr != nil || want.bodyErr != nil {
				// The connection is gone; so is the sequence.
				return
			}
			if strict.closes && !got.Close {
				t.Errorf("answer %d: Close = false, want true", i)
			}
			if want.res.Close && !got.Close {
				t.Errorf("answer %d: Close = false where ReadResponse says the connection ends", i)
			}
		}
		if len(seq.trailing) > 0 && late {
			select {
			case <-seq.sent:
			case <-ctx.Done():
				t.Fatal("the trailing bytes were not sent")
			}
			// Let them reach the client's socket.
			time.Sleep(5 * time.Millisecond)
		}
		got, err := tr.SendOutbound(ctx, newRequest(t, "GET", "http://"+ln.Addr().String()+"/", ""), &Outbound{List: true}, nil)
		if err != nil {
			t.Fatalf("request after the sequence: Send() error = %v (trailing bytes %q)", err, seq.trailing)
		}
		body, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil || string(body) != "fresh" {
			t.Fatalf("request after the sequence: body %q, %v; want the upstream's own answer, not the trailing bytes %q", body, err, seq.trailing)
		}
	})
}

// sequence is one round of FuzzResponseSequence: the answers as
// ReadResponse read them, each with its segment of the bytes, and what
// the upstream does with them.
type sequence struct {
	answers  []seqAnswer
	trailing []byte
	late     bool
	fresh    string
	// next numbers the requests; sent is signalled once late trailing
	// bytes went out.
	next atomic.Int32
	sent chan struct{}
}

type seqAnswer struct {
	head bool
	// seg is the bytes ReadResponse consumed for this answer; close says
	// the upstream ends the connection after them (the answer is delimited
	// by the close, or ReadResponse failed on it).
	seg   []byte
	close bool
	info  int
	res   *http.Response
	err   error
	body  []byte
	// bodyErr is ReadResponse's error reading the body.
	bodyErr error
}

// cutSequence reads data as ReadResponse does, as the answers to up to
// 1 + (heads>>4)&3 requests (request i a HEAD when bit i of heads is set),
// until the bytes end, an answer fails, or one ends the connection.
func cutSequence(data []byte, heads byte) *sequence {
	seq := &sequence{}
	cr := &countingReader{r: bytes.NewReader(data)}
	br := bufio.NewReader(cr)
	prev := 0
	for i := 0; i <= int(heads>>4&3) && prev < len(data); i++ {
		a := seqAnswer{head: heads&(1<<i) != 0}
		method := "GET"
		if a.head {
			method = "HEAD"
		}
		a.res, a.info, a.err = readResponses(br, &http.Request{Method: method})
		if a.err == nil {
			a.body, a.bodyErr = io.ReadAll(a.res.Body)
			if a.body == nil {
				a.body = []byte{}
			}
		}
		end := int(cr.n) - br.Buffered()
		// Delimited by the close, or unreadable: what is left belongs to
		// this answer.
		bodyless := a.err == nil && (a.head || a.res.StatusCode == http.StatusNoContent || a.res.StatusCode == http.StatusNotModified)
		if a.err != nil || a.bodyErr != nil || (!bodyless && a.res.ContentLength < 0 && len(a.res.TransferEncoding) == 0) {
			end, a.close = len(data), true
		}
		a.seg = data[prev:end]
		prev = end
		seq.answers = append(seq.answers, a)
		if a.close || a.res.Close {
			break
		}
	}
	seq.trailing = data[prev:]
	return seq
}

// answer writes the answer to the next request on c; false means close c.
func (s *sequence) answer(c net.Conn) bool {
	i := int(s.next.Add(1)) - 1
	if i >= len(s.answers) {
		_, err := io.WriteString(c, s.fresh)
		return err == nil
	}
	a := s.answers[i]
	last := i == len(s.answers)-1
	out := a.seg
	if last && !s.late {
		out = append(out[:len(out):len(out)], s.trailing...)
	}
	if _, err := c.Write(out); err != nil {
		return false
	}
	if last && s.late && len(s.trailing) > 0 {
		time.Sleep(5 * time.Millisecond)
		c.Write(s.trailing)
		s.sent <- struct{}{}
	}
	return !a.close
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// listHeader is the header map of an answer's list (Outbound.Answer), the
// values of a name joined in order. It fails t when the list breaks its
// rule: names and values alternating, none of the fields framing reads but
// one Content-Length.
func listHeader(t *testing.T, list []string) http.Header {
	t.Helper()
	if len(list)%2 != 0 {
		t.Fatalf("answer list of odd length %d: %q", len(list), list)
	}
	h := ListHeader(list)
	if len(h["Content-Length"]) > 1 || h["Connection"] != nil || h["Transfer-Encoding"] != nil || h["Trailer"] != nil {
		t.Fatalf("answer list holds a field framing reads: %q", list)
	}
	return h
}
