package wire

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzScan checks that the scanner never panics and that its verdict does
// not depend on how the stream is cut into reads.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		get + get2,
		"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + get,
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-A: 1\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /a HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
		"GET /a HTTP/1.1\nHost: a\n\n",
		"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\n" + get,
		"OPTIONS * HTTP/1.1\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole := scanChunks(data)
		ones := make([][]byte, len(data))
		for i := range data {
			ones[i] = data[i : i+1]
		}
		if got := scanChunks(ones...); got != whole {
			t.Fatalf("byte by byte = %v, whole = %v", got, whole)
		}
		r := rand.New(rand.NewPCG(seed, seed>>1))
		var cut [][]byte
		for rest := data; len(rest) > 0; {
			n := 1 + r.IntN(len(rest))
			cut = append(cut, rest[:n])
			rest = rest[n:]
		}
		if got := scanChunks(cut...); got != whole {
			t.Fatalf("in %d pieces = %v, whole = %v", len(cut), got, whole)
		}
		if whole.Limit >= 0 && (whole.Limit < whole.Blocks || whole.Limit > whole.Blocks+1) {
			t.Fatalf("limit %d not at the current block %d or the next", whole.Limit, whole.Blocks)
		}
	})
}

// FuzzScanMatchesGo checks the scanner against Go's own request parser:
// where the scanner found only good blocks, Go must not frame the stream
// into more requests than the scanner did, or the served count would
// drift.
func FuzzScanMatchesGo(f *testing.F) {
	for _, s := range []string{
		get + get2,
		"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\n" + get,
		"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-A: 1\r\n\r\n" + get,
		"GET / HTTP/1.0\r\nContent-Length: 2\r\n\r\nab" + get2,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := scanChunks(data)
		if want.Limit >= 0 {
			return
		}
		br := bufio.NewReader(bytes.NewReader(data))
		afterPost := false
		for n := int64(0); ; n++ {
			if afterPost {
				// As Go's server does before the request after a POST.
				peek, _ := br.Peek(4)
				k := 0
				for k < len(peek) && (peek[k] == '\r' || peek[k] == '\n') {
					k++
				}
				br.Discard(k)
			}
			req, err := http.ReadRequest(br)
			if err != nil {
				return // Go refuses or needs more: the server answers or waits.
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return // The server closes the connection.
			}
			if n >= want.Blocks {
				t.Fatalf("Go read request %d (%s %s), scanner saw %d complete", n+1, req.Method, req.RequestURI, want.Blocks)
			}
			afterPost = req.Method == "POST"
		}
	})
}

// FuzzCanonicalPath checks that canonical never panics and that its result
// is canonical: free of dot and empty segments, NUL and spaces, valid
// UTF-8, and unchanged by a trip through EscapePath; and that the path
// matched (StripMatrixParams) is canonical too, without ';', and that
// MatrixSuffix maps each of its segment suffixes back to a part of the
// path that strips to it.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{
		"/", "/public/../admin", "/public/%2e%2e/admin", "/public/..%2fadmin", "//admin",
		"/public\\..\\admin", "/admin%00.json", "/%c0%ae%c0%ae/admin", "/admin#frag",
		"/admin;x=1/y", "/a/./b/", "/%7Euser", "/caf%C3%A9", "/a%20b", "/a%252F%25",
		"http://evil.example/p?q", "/..;/a", "/a%3F%23", "/admin%20/x", "/admin;jsessionid=1",
		"/private;/x", "/a/;x/b;y/", "/;x", "/a%3Bx/b", "/%2e;x/a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		p, encoded, err := canonical(target)
		if err != nil {
			return
		}
		switch {
		case !strings.HasPrefix(p, "/"):
			t.Fatalf("canonical(%q) = %q: no leading slash", target, p)
		case strings.Contains(p, "//"), strings.Contains(p, "/../"), strings.Contains(p, "/./"),
			strings.HasSuffix(p, "/.."), strings.HasSuffix(p, "/."):
			t.Fatalf("canonical(%q) = %q: empty or dot segment", target, p)
		case strings.IndexByte(p, 0) >= 0, strings.IndexByte(p, '\\') >= 0, strings.IndexByte(p, ' ') >= 0:
			t.Fatalf("canonical(%q) = %q: NUL, backslash or space", target, p)
		case !utf8.ValidString(p):
			t.Fatalf("canonical(%q) = %q: invalid UTF-8", target, p)
		case hasEncodedSlash(p) && !encoded:
			t.Fatalf("canonical(%q) = %q, encoded %v", target, p, encoded)
		}
		esc := EscapePath(p)
		for i := 0; i < len(esc); i++ {
			if c := esc[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' {
				t.Fatalf("EscapePath(%q) = %q: raw %q", p, esc, c)
			}
		}
		back, enc2, err := canonical(esc)
		if err != nil || back != p || enc2 != hasEncodedSlash(p) {
			t.Fatalf("canonical(EscapePath(%q) = %q) = %q, %v, %v", p, esc, back, enc2, err)
		}
		if bytes.Contains([]byte(p), []byte("%")) && !keptOnly(p) {
			t.Fatalf("canonical(%q) = %q: escape other than %%25, %%2F, %%5C", target, p)
		}
		m := StripMatrixParams(p)
		switch {
		case !strings.HasPrefix(m, "/"), strings.Contains(m, "//"), strings.IndexByte(m, ';') >= 0,
			strings.Contains(m, "/../"), strings.Contains(m, "/./"), strings.HasSuffix(m, "/.."), strings.HasSuffix(m, "/."):
			t.Fatalf("StripMatrixParams(%q) = %q: not canonical", p, m)
		}
		if again, _, err := canonical(EscapePath(m)); err != nil || again != m {
			t.Fatalf("canonical(EscapePath(StripMatrixParams(%q) = %q)) = %q, %v", p, m, again, err)
		}
		if got := MatrixSuffix(p, m); got != p {
			t.Fatalf("MatrixSuffix(%q, %q) = %q, want the whole path", p, m, got)
		}
		for i := 0; i < len(m); i++ {
			if m[i] != '/' {
				continue
			}
			suffix := m[i:]
			if got := StripMatrixParams(MatrixSuffix(p, suffix)); got != suffix {
				t.Fatalf("StripMatrixParams(MatrixSuffix(%q, %q)) = %q", p, suffix, got)
			}
		}
	})
}

// keptOnly reports whether every '%' in p starts %25, %2F or %5C.
func keptOnly(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && !keptEscape(p[i+1:]) {
			return false
		}
	}
	return true
}

func hasEncodedSlash(p string) bool {
	return strings.Contains(p, "%2F") || strings.Contains(p, "%5C")
}
