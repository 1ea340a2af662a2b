package conformance

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// A tiny HTTP/2 client, enough to send streams no conforming client library
// would: the preface, SETTINGS, one HEADERS frame whose HPACK block is
// literal fields without Huffman coding, and DATA. It reads back SETTINGS,
// HEADERS (only :status is decoded), DATA, RST_STREAM and GOAWAY.

const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
)

// h2Stream is one request on stream 1 of a fresh connection.
type h2Stream struct {
	fields [][2]string // pseudo-headers first, names in lower case
	data   string      // one DATA frame (with END_STREAM) when not empty
}

func (h h2Stream) String() string {
	var b strings.Builder
	for _, f := range h.fields {
		fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
	}
	if h.data != "" {
		fmt.Fprintf(&b, "DATA %q", h.data)
	}
	return "h2 " + strings.TrimSpace(b.String())
}

func appendFrame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream&0x7fffffff)
	return append(b, payload...)
}

// hpackLiteral encodes a "literal header field without indexing, new
// name" (RFC 7541 §6.2.2) with both strings raw.
func hpackLiteral(b []byte, name, value string) []byte {
	b = append(b, 0x00)
	b = hpackString(b, name)
	return hpackString(b, value)
}

func hpackString(b []byte, s string) []byte {
	// 7-bit prefix integer, H bit clear (RFC 7541 §5.1).
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

// exchangeH2 sends h as stream 1 of a prior-knowledge HTTP/2 connection
// and reads the stream's answer.
func exchangeH2(addr string, h h2Stream) result {
	var res result
	c, err := net.Dial("tcp", addr)
	if err != nil {
		res.Closed = true
		return res
	}
	defer c.Close()
	var out []byte
	out = append(out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"...)
	out = appendFrame(out, frameSettings, 0, 0, nil)
	var block []byte
	for _, f := range h.fields {
		block = hpackLiteral(block, f[0], f[1])
	}
	flags := byte(flagEndHeaders)
	if h.data == "" {
		flags |= flagEndStream
	}
	out = appendFrame(out, frameHeaders, flags, 1, block)
	if h.data != "" {
		out = appendFrame(out, frameData, flagEndStream, 1, []byte(h.data))
	}
	if _, err := c.Write(out); err != nil {
		res.Closed = true
		return res
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	var cur *reply
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			res.Closed = isClosed(err)
			return res
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, fl := hdr[3], hdr[4]
		stream := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			res.Closed = isClosed(err)
			return res
		}
		switch typ {
		case frameSettings:
			for i := 0; i+6 <= len(payload) && fl&flagAck == 0; i += 6 {
				if res.Settings == nil {
					res.Settings = map[uint16]uint32{}
				}
				res.Settings[binary.BigEndian.Uint16(payload[i:])] = binary.BigEndian.Uint32(payload[i+2:])
			}
			if fl&flagAck == 0 {
				c.Write(appendFrame(nil, frameSettings, flagAck, 0, nil))
			}
		case framePing:
			if fl&flagAck == 0 {
				c.Write(appendFrame(nil, framePing, flagAck, 0, payload))
			}
		case frameGoAway:
			if len(payload) >= 8 {
				res.Reset = "GOAWAY " + h2Code(binary.BigEndian.Uint32(payload[4:8]))
			}
			res.Closed = true
			return res
		case frameRSTStream:
			if stream == 1 && len(payload) >= 4 {
				res.Reset = "RST_STREAM " + h2Code(binary.BigEndian.Uint32(payload))
				return res
			}
		case frameHeaders:
			if stream != 1 {
				continue
			}
			if cur == nil {
				res.Replies = append(res.Replies, reply{Status: hpackStatus(payload, fl)})
				cur = &res.Replies[len(res.Replies)-1]
			}
			if fl&flagEndStream != 0 {
				return res
			}
		case frameData:
			if stream != 1 || cur == nil {
				continue
			}
			cur.Body = append(cur.Body, payload...)
			if len(payload) > 0 {
				// Give the flow-control window back so long bodies finish.
				inc := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
				c.Write(appendFrame(appendFrame(nil, frameWindowUpdate, 0, 0, inc), frameWindowUpdate, 0, 1, inc))
			}
			if fl&flagEndStream != 0 {
				// The body of a gateway error is the contract's JSON.
				cur.Header = map[string][]string{"Content-Type": {"application/json"}}
				decodeError(cur)
				if cur.Code == "" {
					cur.Header = nil
					cur.JSON = false
				}
				return res
			}
		}
	}
}

func h2Code(c uint32) string {
	names := []string{"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"}
	if int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("0x%x", c)
}

// hpackStatus decodes :status from the first field of a response's header
// block, which servers encode first: an indexed static entry (RFC 7541
// appendix A, 8 to 14) or a literal with the indexed name :status and a
// raw or Huffman-coded value. It returns -1 if it cannot tell.
func hpackStatus(p []byte, flags byte) int {
	const flagPadded, flagPriority = 0x8, 0x20
	if flags&flagPadded != 0 && len(p) > 0 {
		pad := int(p[0])
		p = p[1:]
		if pad <= len(p) {
			p = p[:len(p)-pad]
		}
	}
	if flags&flagPriority != 0 && len(p) >= 5 {
		p = p[5:]
	}
	// Skip dynamic table size updates (001xxxxx).
	for len(p) > 0 && p[0]&0xe0 == 0x20 {
		p = p[1:]
	}
	if len(p) == 0 {
		return -1
	}
	b := p[0]
	if b&0x80 != 0 {
		static := map[byte]int{8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
		if s, ok := static[b&0x7f]; ok {
			return s
		}
		return -1
	}
	var nameIdx byte
	if b&0xc0 == 0x40 {
		nameIdx = b & 0x3f
	} else {
		nameIdx = b & 0x0f
	}
	if nameIdx < 8 || nameIdx > 14 || len(p) < 2 {
		return -1
	}
	l := int(p[1] & 0x7f)
	if len(p) < 2+l {
		return -1
	}
	v := p[2 : 2+l]
	if p[1]&0x80 == 0 {
		var s int
		if _, err := fmt.Sscan(string(v), &s); err != nil {
			return -1
		}
		return s
	}
	return huffmanDigits(v)
}

// huffmanDigits decodes a Huffman-coded string of decimal digits: '0' to
// '2' are the 5-bit codes 0 to 2, '3' to '9' the 6-bit codes 25 to 31
// (RFC 7541 appendix B).
func huffmanDigits(v []byte) int {
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
			return -1
		}
		if x <= 2 {
			s = s*10 + x
			continue
		}
		y, ok := next(1)
		code := x<<1 | y
		if !ok || code < 25 || code > 31 {
			return -1
		}
		s = s*10 + code - 25 + 3
	}
	return s
}
