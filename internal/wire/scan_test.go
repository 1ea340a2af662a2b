package wire

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// outcome is what a scan of a whole stream leaves behind.
type outcome struct {
	Blocks int64  // complete requests (header block and body) seen
	Limit  int64  // first block not known good; -1 for none
	Why    reason // its verdict
}

func (o outcome) String() string {
	return fmt.Sprintf("{blocks %d, limit %d, why %d}", o.Blocks, o.Limit, o.Why)
}

func outcomeOf(s *scanner) outcome {
	o := outcome{Blocks: s.blk, Limit: s.limit.Load(), Why: reason(s.why.Load())}
	if o.Limit == math.MaxInt64 {
		o.Limit = -1
	}
	return o
}

// scanChunks feeds chunks to a fresh scanner.
func scanChunks(chunks ...[]byte) outcome {
	var s scanner
	s.init()
	for _, c := range chunks {
		s.scan(c)
	}
	return outcomeOf(&s)
}

// splits returns ways to cut b: whole, one byte at a time, at every single
// position, and a few random cuts.
func splits(b []byte, seed uint64) [][][]byte {
	out := [][][]byte{{b}}
	ones := make([][]byte, len(b))
	for i := range b {
		ones[i] = b[i : i+1]
	}
	out = append(out, ones)
	for i := 1; i < len(b); i++ {
		out = append(out, [][]byte{b[:i], b[i:]})
	}
	r := rand.New(rand.NewPCG(seed, 7))
	for range 20 {
		var cut [][]byte
		for rest := b; len(rest) > 0; {
			n := 1 + r.IntN(min(len(rest), 17))
			cut = append(cut, rest[:n])
			rest = rest[n:]
		}
		out = append(out, cut)
	}
	return out
}

const (
	get  = "GET /a HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n"
	get2 = "GET /b HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
)

func good(blocks int64) outcome { return outcome{Blocks: blocks, Limit: -1} }

func badAt(blocks, limit int64, why reason) outcome {
	return outcome{Blocks: blocks, Limit: limit, Why: why}
}

func TestScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want outcome
	}{
		{"get", get, good(1)},
		{"pipelined gets", get + get2 + get, good(3)},
		{"incomplete header", "GET /a HTTP/1.1\r\nHost: a", good(0)},
		{"post with body", "POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nGET / HTTP/" + get2, good(2)},
		{"get with body", "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + get2, good(2)},
		{"incomplete body", "POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", good(0)},
		{"content-length zero", "POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + get2, good(2)},
		{"content-length whitespace", "POST /a HTTP/1.1\r\nContent-Length: \t 3 \t\r\n\r\nabc" + get2, good(2)},
		{"content-length any case", "POST /a HTTP/1.1\r\ncOnTeNt-LeNgTh: 3\r\n\r\nabc" + get2, good(2)},
		{"duplicate equal content-length", "POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + get2, good(2)},
		{"similar header names", "POST /a HTTP/1.1\r\nContent-Lengths: 5\r\nContent-Lengt: 5\r\nX-Transfer-Encoding: chunked\r\nTransfer-Encodin: x\r\n\r\n" + get2, good(2)},
		{"chunked", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n" + get2, good(2)},
		{"chunked any case", "POST /a HTTP/1.1\r\nTRANSFER-ENCODING: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n" + get2, good(2)},
		{"chunked with extensions", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;q=\"a b\"\r\nhello\r\n0;last \r\n\r\n" + get2, good(2)},
		{"chunk size trailing whitespace", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \t\r\nhello\r\n0\r\n\r\n" + get2, good(2)},
		{"chunk size sixteen digits", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n" + get2, good(2)},
		{"chunked with trailers", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n" + get2, good(2)},
		{"chunk data looks like a request", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n15\r\nGET /x HTTP/1.1\r\n\r\n\r\n\r\n0\r\n\r\n", good(1)},
		{"body looks like a request", "POST /a HTTP/1.1\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", good(1)},
		{"crlf after post is skipped", "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n" + get2, good(2)},
		{"four crlf bytes after post", "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\n" + get2, good(2)},
		{"five crlf bytes after post", "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\n\n" + get2, badAt(1, 1, reasonUnknown)},
		{"crlf after get", get + "\r\n" + get2, badAt(1, 1, reasonUnknown)},
		{"crlf after lower-case post", "post /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n" + get2, badAt(1, 1, reasonUnknown)},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n" + get2, good(2)},
		{"http/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", good(1)},
		{"absolute form", "GET http://api.example.com/a?b HTTP/1.1\r\nHost: a\r\n\r\n", good(1)},
		{"empty value", "GET /a HTTP/1.1\r\nX-Empty:\r\nHost: a\r\n\r\n", good(1)},

		{"content-length and transfer-encoding", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", badAt(0, 0, reasonCLTE)},
		{"transfer-encoding then content-length", get + "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\ncontent-length: 4\r\n\r\n0\r\n\r\n", badAt(1, 1, reasonCLTE)},
		{"http/1.0 with transfer-encoding", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", badAt(0, 0, reasonTE10)},
		{"http/1.0 with transfer-encoding and content-length", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", badAt(0, 0, reasonCLTE)},
		{"obs-fold", "GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", badAt(0, 0, reasonObsFold)},
		{"obs-fold with tab", get + "GET /a HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", badAt(1, 1, reasonObsFold)},
		{"leading whitespace header", "GET /a HTTP/1.1\r\n Host: a\r\n\r\n", badAt(0, 0, reasonObsFold)},
		{"bare lf request line", "GET /a HTTP/1.1\nHost: a\r\n\r\n", badAt(0, 0, reasonBareLF)},
		{"bare lf header line", "GET /a HTTP/1.1\r\nHost: a\n\r\n", badAt(0, 0, reasonBareLF)},
		{"bare lf empty line", "GET /a HTTP/1.1\r\nHost: a\r\n\n", badAt(0, 0, reasonBareLF)},
		{"bare lf content-length", "GET /a HTTP/1.1\r\nContent-Length: 1\n\r\n", badAt(0, 0, reasonBareLF)},
		{"bare cr header value", "GET /a HTTP/1.1\r\nX-A: a\rb\r\n\r\n", badAt(0, 0, reasonBareCR)},
		{"bare cr request line", "GET /a HTTP/1.1\rX\r\n\r\n", badAt(0, 0, reasonBareCR)},
		{"cr cr lf", "GET /a HTTP/1.1\r\nX-A: a\r\r\n\r\n", badAt(0, 0, reasonBareCR)},
		{"header without colon", "GET /a HTTP/1.1\r\nHost a\r\n\r\n", badAt(0, 0, reasonHeaderLine)},
		{"content-length plus", "POST /a HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", badAt(0, 0, reasonBadCL)},
		{"content-length negative", "POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", badAt(0, 0, reasonBadCL)},
		{"content-length list", "POST /a HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", badAt(0, 0, reasonBadCL)},
		{"content-length inner space", "POST /a HTTP/1.1\r\nContent-Length: 1 2\r\n\r\nabc", badAt(0, 0, reasonBadCL)},
		{"content-length empty", "POST /a HTTP/1.1\r\nContent-Length: \r\n\r\n", badAt(0, 0, reasonBadCL)},
		{"content-length too big", "POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", badAt(0, 0, reasonBadCL)},
		{"content-length max", "POST /a HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\nabc", good(0)},
		{"content-length over max", "POST /a HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", badAt(0, 0, reasonBadCL)},
		{"conflicting content-length", "POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", badAt(0, 0, reasonDupCL)},
		{"options star", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" + get2, badAt(0, 0, reasonOptionsStar)},
		{"options path", "OPTIONS /* HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\nOPTION * HTTP/1.1\r\nHost: a\r\n\r\n", good(3)},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", badAt(0, 0, reasonUnknown)},
		{"http/0.9", "GET /\r\n", badAt(0, 0, reasonUnknown)},
		{"bad version", "GET / HTTP/1.10\r\n\r\n", badAt(0, 0, reasonUnknown)},
		{"bad method", get + "G@T / HTTP/1.1\r\n\r\n", badAt(1, 1, reasonUnknown)},
		{"binary after request", get + "\x81\x85\x37\xfa\x21\x3d", badAt(1, 1, reasonUnknown)},
		{"double space", "GET  / HTTP/1.1\r\n\r\n", badAt(0, 0, reasonUnknown)},

		{"bare lf in chunk size", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" + get2, badAt(0, 1, reasonChunkBareLF)},
		{"bare cr in chunk extension", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n", badAt(0, 1, reasonChunkBareCR)},
		{"chunk size not hex", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", badAt(0, 1, reasonChunkSize)},
		{"chunk size empty", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", badAt(0, 1, reasonChunkSize)},
		{"chunk size space before extension", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 ;x\r\nabc\r\n", badAt(0, 1, reasonChunkSize)},
		{"chunk size seventeen digits", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000003\r\nabc\r\n", badAt(0, 1, reasonChunkSize)},
		{"chunk size leading space", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n", badAt(0, 1, reasonChunkSize)},
		{"chunk data too long", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", badAt(0, 1, reasonChunkData)},
		{"chunk data bare lf", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", badAt(0, 1, reasonChunkData)},
		{"chunk line too long", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;" + strings.Repeat("x", 5000) + "\r\nabc\r\n", badAt(0, 1, reasonChunkLine)},
		{"trailer bare lf", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: 1\n\r\n" + get2, badAt(0, 1, reasonChunkBareLF)},
		{"trailer obs-fold", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: 1\r\n 2\r\n\r\n", badAt(0, 1, reasonTrailer)},
		{"trailer too long", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: " + strings.Repeat("x", 5000) + "\r\n\r\n", badAt(0, 1, reasonTrailer)},
		{"bad chunk after good requests", get + get2 + "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", badAt(2, 3, reasonChunkSize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, cut := range splits([]byte(tt.in), uint64(len(tt.name))) {
				if got := scanChunks(cut...); got != tt.want {
					t.Fatalf("scan(%q) in %d pieces = %v, want %v", tt.in, len(cut), got, tt.want)
				}
			}
		})
	}
}

func TestScanVerdict(t *testing.T) {
	t.Parallel()
	in := get + get2 + "POST /a HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get
	var s scanner
	s.init()
	s.scan([]byte(in))
	want := []reason{reasonNone, reasonNone, reasonCLTE, reasonCLTE}
	for i, w := range want {
		if got := s.verdict(int64(i)); got != w {
			t.Errorf("verdict(%d) = %d, want %d", i, got, w)
		}
	}
	// Nothing is scanned once the verdict is in.
	s.scan([]byte("GET / HTTP/1.1\n\n"))
	if got := outcomeOf(&s); got != badAt(2, 2, reasonCLTE) {
		t.Errorf("after more input: %v", got)
	}
}

func TestReasonText(t *testing.T) {
	t.Parallel()
	for r := reasonCLTE; r <= reasonTrailer; r++ {
		if reasonText[r] == "" {
			t.Errorf("reason %d has no text", r)
		}
	}
	if len(reasonText) != int(reasonTrailer)+1 {
		t.Errorf("reasonText has %d entries, want %d", len(reasonText), reasonTrailer+1)
	}
}
