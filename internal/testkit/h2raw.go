package testkit

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The pieces of a bare HTTP/2 client, for tests that send streams no
// conforming client library would (an absolute-form :path, a reset right
// after a request, malformed pseudo-headers): frame encoding and reading,
// header blocks of HPACK literals without indexing or Huffman coding, and
// the :status of a server's header block.

// H2Preface is the client connection preface (RFC 9113 §3.4).
const H2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Frame types and flags (RFC 9113 §6).
const (
	H2Data         = 0x0
	H2Headers      = 0x1
	H2RSTStream    = 0x3
	H2Settings     = 0x4
	H2Ping         = 0x6
	H2GoAway       = 0x7
	H2WindowUpdate = 0x8

	H2EndStream  = 0x1
	H2Ack        = 0x1
	H2EndHeaders = 0x4
	h2Padded     = 0x8
	h2Priority   = 0x20
)

// AppendH2Frame appends one frame to b.
func AppendH2Frame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream&0x7fffffff)
	return append(b, payload...)
}

// ReadH2Frame reads one frame from r.
func ReadH2Frame(r io.Reader) (typ, flags byte, stream uint32, payload []byte, err error) {
	var hdr [9]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	typ, flags = hdr[3], hdr[4]
	stream = binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return
}

// H2HeaderBlock encodes fields (name, value pairs, names in lower case,
// pseudo-headers first) as HPACK literals without indexing, new name
// (RFC 7541 §6.2.2), with both strings raw.
func H2HeaderBlock(fields ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, 0x00)
		b = appendHPACKString(b, fields[i])
		b = appendHPACKString(b, fields[i+1])
	}
	return b
}

func appendHPACKString(b []byte, s string) []byte {
	// 7-bit prefix integer, Huffman bit clear (RFC 7541 §5.1).
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		n -= 127
		for n >= 128 {
			b = append(b, byte(n%128+128))
			n /= 128
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}

// H2ErrCode names an HTTP/2 error code (RFC 9113 §7).
func H2ErrCode(c uint32) string {
	names := []string{"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"}
	if int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("0x%x", c)
}

// H2Status decodes :status from the payload of a HEADERS frame with the
// given flags. Servers encode it first: an indexed static entry (RFC 7541
// appendix A, 8 to 14) or a literal with the indexed name :status and a
// raw or Huffman-coded value. ok is false if it cannot tell.
func H2Status(p []byte, flags byte) (status int, ok bool) {
	if flags&h2Padded != 0 && len(p) > 0 {
		pad := int(p[0])
		p = p[1:]
		if pad <= len(p) {
			p = p[:len(p)-pad]
		}
	}
	if flags&h2Priority != 0 && len(p) >= 5 {
		p = p[5:]
	}
	// Skip dynamic table size updates (001xxxxx).
	for len(p) > 0 && p[0]&0xe0 == 0x20 {
		p = p[1:]
	}
	if len(p) == 0 {
		return 0, false
	}
	b := p[0]
	if b&0x80 != 0 {
		static := map[byte]int{8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
		s, ok := static[b&0x7f]
		return s, ok
	}
	// A literal with incremental indexing (01xxxxxx), without indexing
	// (0000xxxx) or never indexed (0001xxxx), the name by static index.
	var nameIdx byte
	if b&0xc0 == 0x40 {
		nameIdx = b & 0x3f
	} else {
		nameIdx = b & 0x0f
	}
	if nameIdx < 8 || nameIdx > 14 || len(p) < 2 {
		return 0, false
	}
	l := int(p[1] & 0x7f)
	if len(p) < 2+l {
		return 0, false
	}
	v := p[2 : 2+l]
	if p[1]&0x80 == 0 {
		return threeDigits(v)
	}
	return huffmanDigits(v)
}

func threeDigits(v []byte) (int, bool) {
	if len(v) != 3 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// huffmanDigits decodes a Huffman-coded string of three decimal digits:
// '0' to '2' are the 5-bit codes 0 to 2, '3' to '9' the 6-bit codes 25 to
// 31 (RFC 7541 appendix B).
func huffmanDigits(v []byte) (int, bool) {
	bit := 0
	total := len(v) * 8
	next := func(n int) (int, bool) {
		if bit+n > total {
			return 0, false
		}
		x := 0
		for range n {
			x = x<<1 | int(v[bit/8]>>(7-bit%8)&1)
			bit++
		}
		return x, true
	}
	s := 0
	for range 3 {
		x, ok := next(5)
		if !ok {
			return 0, false
		}
		if x <= 2 {
			s = s*10 + x
			continue
		}
		y, ok := next(1)
		code := x<<1 | y
		if !ok || code < 25 || code > 31 {
			return 0, false
		}
		s = s*10 + code - 25 + 3
	}
	return s, true
}
