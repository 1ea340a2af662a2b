package engine

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkServe measures one keep-alive connection over loopback: the
// client writes a request and reads the whole answer, for the engine and
// for net/http's server with the same handler. Allocations are the whole
// process's; the client's reading allocates nothing.
func BenchmarkServe(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	reqs := map[string]string{
		"GET":  "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAuthorization: Bearer abcdef\r\n\r\n",
		"POST": "POST /api/v1/items HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("p", 1024),
	}
	for _, kind := range []string{"GET", "POST"} {
		for _, srv := range []string{"engine", "net-http"} {
			b.Run(kind+"/"+srv, func(b *testing.B) {
				var addr string
				if srv == "engine" {
					addr = startEngine(b, &Server{Handler: handler})
				} else {
					addr = startStd(b, &http.Server{Handler: handler, ErrorLog: quietLog()})
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				req := []byte(reqs[kind])
				br := bufio.NewReader(c)
				b.ReportAllocs()
				b.SetBytes(int64(len(req)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := c.Write(req); err != nil {
						b.Fatal(err)
					}
					if err := readAnswer(br); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// readAnswer reads one answer with a Content-Length, allocating nothing.
func readAnswer(br *bufio.Reader) error {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n = 0
			for _, c := range bytes.TrimSpace(v) {
				n = n*10 + int(c-'0')
			}
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := br.Discard(n)
	return err
}

// BenchmarkParseTarget compares the request target parse with
// url.ParseRequestURI, which it falls back to for what it cannot tell by
// looking.
func BenchmarkParseTarget(b *testing.B) {
	for _, target := range []string{"/", "/api/v1/orders/12345/items?page=2&size=50", "/caf%C3%A9?q"} {
		b.Run(target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseTarget(target); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(target+"/url.ParseRequestURI", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := url.ParseRequestURI(target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseRequest reads and parses a browser's request of ten
// header lines: readHead and parseRequest, without a connection.
func BenchmarkParseRequest(b *testing.B) {
	data := []byte("GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
		"Accept: application/json, text/plain, */*\r\nAccept-Language: en-US,en;q=0.9\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nAuthorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln\r\n" +
		"Origin: https://app.example.com\r\nReferer: https://app.example.com/orders\r\n" +
		"Sec-Fetch-Mode: cors\r\nCookie: session=0123456789abcdef\r\n\r\n")
	rd := bytes.NewReader(data)
	br := bufio.NewReaderSize(rd, bufSize)
	var scratch []byte
	var ends []span
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(data)
		br.Reset(rd)
		h, s, e, err := readHead(br, scratch, ends, 64<<10)
		scratch, ends = s, e
		if err != nil {
			b.Fatal(err)
		}
		var r http.Request
		if _, err := parseRequest(h, &r); err != nil {
			b.Fatal(err)
		}
	}
}
