package wire

import (
	"fmt"
	"strings"
	"testing"
)

// typicalGET is a browser-like request of about 500 bytes.
const typicalGET = "GET /api/v1/orders/42?expand=items HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: application/json, text/plain, */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl\r\n" +
	"X-Request-ID: 6f1c2a0e-4b1d-4c3a-9f8e-2d7b5a1c0e9f\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=abcdef0123456789; theme=dark\r\n" +
	"\r\n"

func chunkedPOST(size, chunk int) []byte {
	var b strings.Builder
	b.WriteString("POST /api/v1/upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	data := strings.Repeat("x", chunk)
	for left := size; left > 0; left -= chunk {
		n := min(chunk, left)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, data[:n])
	}
	b.WriteString("0\r\n\r\n")
	return []byte(b.String())
}

// BenchmarkScan measures the scanner as the server feeds it: reads of up to
// 4 KiB (the server's buffer size).
func BenchmarkScan(b *testing.B) {
	inputs := []struct {
		name string
		data []byte
	}{
		{"get", []byte(typicalGET)},
		{"get_pipelined_x8", []byte(strings.Repeat(typicalGET, 8))},
		{"chunked_64KiB", chunkedPOST(64<<10, 8<<10)},
		{"chunked_64KiB_small_chunks", chunkedPOST(64<<10, 256)},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			var s scanner
			for b.Loop() {
				s = scanner{}
				s.init()
				for p := in.data; len(p) > 0; {
					n := min(len(p), 4096)
					s.scan(p[:n])
					p = p[n:]
				}
			}
			if s.state != sStart || s.limit.Load() != 1<<63-1 {
				b.Fatalf("scan ended in state %d with limit %d", s.state, s.limit.Load())
			}
		})
	}
}

func BenchmarkCanonicalPath(b *testing.B) {
	for _, target := range []string{
		"/api/v1/orders/42?expand=items",
		"/api/v1/../v2/orders/%7Eacme/./items//",
		"/caf%C3%A9/%E2%82%AC/a%2Fb",
	} {
		b.Run(target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := canonical(target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEscapePath(b *testing.B) {
	for _, p := range []string{"/api/v1/orders/42", "/café/€/a%2Fb c"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				EscapePath(p)
			}
		})
	}
}

func BenchmarkDropAmbiguousHeaders(b *testing.B) {
	b.ReportAllocs()
	h := map[string][]string{
		"Accept": {"*/*"}, "User-Agent": {"curl"}, "X-Request-Id": {"1"},
		"Authorization": {"Bearer x"}, "Accept-Encoding": {"gzip"},
	}
	for b.Loop() {
		DropAmbiguousHeaders(h)
	}
}

func BenchmarkStripUpgrade(b *testing.B) {
	b.ReportAllocs()
	h := map[string][]string{"Connection": {"keep-alive"}, "Accept": {"*/*"}}
	for b.Loop() {
		StripUpgrade(h)
	}
}

func BenchmarkDropConnectionListed(b *testing.B) {
	b.ReportAllocs()
	h := map[string][]string{"Connection": {"keep-alive"}, "Accept": {"*/*"}}
	for b.Loop() {
		DropConnectionListed(h)
	}
}

func BenchmarkDropForwarding(b *testing.B) {
	b.ReportAllocs()
	h := map[string][]string{
		"Accept": {"*/*"}, "User-Agent": {"curl"}, "X-Request-Id": {"1"},
		"Authorization": {"Bearer x"}, "Accept-Encoding": {"gzip"},
	}
	for b.Loop() {
		DropForwarding(h)
	}
}

func BenchmarkStripMatrixParams(b *testing.B) {
	for _, p := range []string{"/api/v1/orders/42", "/files;v=2/report;rev=3/a"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				StripMatrixParams(p)
			}
		})
	}
}
