package e2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// h2raw is a bare HTTP/2 client speaking frames over a connection (h2c with
// prior knowledge, or TLS with ALPN h2): enough to send what a well-behaved
// client library refuses to send (an absolute-form :path, a reset right
// after a request) and to read the server's settings, statuses, bodies and
// resets. Header blocks are encoded as HPACK literals without indexing and
// without Huffman coding; of the server's header blocks only :status is
// decoded.
type h2raw struct {
	t    *testing.T
	c    net.Conn
	wmu  sync.Mutex
	next uint32 // the next client stream ID

	mu       sync.Mutex
	settings map[uint16]uint32
	gotSet   chan struct{}
	status   map[uint32]int
	data     map[uint32][]byte
	reset    map[uint32]uint32
	ended    map[uint32]chan struct{}
	goaway   bool
	closed   chan struct{}
}

const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	flagEndStream     = 0x1
	flagAck           = 0x1
	flagEndHeaders    = 0x4
	settingMaxStreams = 0x3
	errCodeCancel     = 0x8
)

func newH2raw(t *testing.T, c net.Conn) *h2raw {
	t.Helper()
	h := &h2raw{
		t: t, c: c, next: 1,
		settings: map[uint16]uint32{}, gotSet: make(chan struct{}),
		status: map[uint32]int{}, data: map[uint32][]byte{}, reset: map[uint32]uint32{},
		ended: map[uint32]chan struct{}{}, closed: make(chan struct{}),
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	h.write(frameSettings, 0, 0, nil)
	go h.read()
	select {
	case <-h.gotSet:
	case <-time.After(5 * time.Second):
		t.Fatal("no SETTINGS from the server")
	}
	return h
}

func (h *h2raw) write(typ, flags byte, stream uint32, payload []byte) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.c.Write(appendFrame(nil, typ, flags, stream, payload))
}

func appendFrame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream&0x7fffffff)
	return append(b, payload...)
}

// headerBlock encodes fields (name, value pairs) as HPACK literals.
func headerBlock(fields ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, 0x00) // literal without indexing, new name
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

// request opens a stream for a GET of path with the given authority, and
// resets it at once, in the same write, when reset is set. It returns the
// stream ID.
func (h *h2raw) request(authority, path string, reset bool) uint32 {
	h.mu.Lock()
	id := h.next
	h.next += 2
	h.ended[id] = make(chan struct{})
	h.mu.Unlock()
	block := headerBlock(":method", "GET", ":scheme", "http", ":authority", authority, ":path", path)
	b := appendFrame(nil, frameHeaders, flagEndHeaders|flagEndStream, id, block)
	if reset {
		b = appendFrame(b, frameRSTStream, 0, id, binary.BigEndian.AppendUint32(nil, errCodeCancel))
	}
	h.wmu.Lock()
	h.c.Write(b)
	h.wmu.Unlock()
	return id
}

// resetStreams opens n streams, each reset at once, in one write.
func (h *h2raw) resetStreams(authority, path string, n int) {
	var b []byte
	block := headerBlock(":method", "GET", ":scheme", "http", ":authority", authority, ":path", path)
	h.mu.Lock()
	for range n {
		id := h.next
		h.next += 2
		h.ended[id] = make(chan struct{})
		b = appendFrame(b, frameHeaders, flagEndHeaders|flagEndStream, id, block)
		b = appendFrame(b, frameRSTStream, 0, id, binary.BigEndian.AppendUint32(nil, errCodeCancel))
	}
	h.mu.Unlock()
	h.wmu.Lock()
	h.c.Write(b)
	h.wmu.Unlock()
}

// wait waits until stream id ended (END_STREAM or RST_STREAM from the
// server) and returns its status (0 for none), body and reset code.
func (h *h2raw) wait(id uint32) (status int, body string, reset uint32, ok bool) {
	h.mu.Lock()
	ch := h.ended[id]
	h.mu.Unlock()
	select {
	case <-ch:
	case <-h.closed:
	case <-time.After(5 * time.Second):
		return 0, "", 0, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	rc, wasReset := h.reset[id]
	return h.status[id], string(h.data[id]), rc, wasReset || h.status[id] != 0
}

func (h *h2raw) end(id uint32) {
	if ch, ok := h.ended[id]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
}

func (h *h2raw) read() {
	defer close(h.closed)
	br := bufio.NewReader(h.c)
	var hdr [9]byte
	gotSettings := false
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags := hdr[3], hdr[4]
		id := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		h.mu.Lock()
		switch typ {
		case frameSettings:
			if flags&flagAck == 0 {
				for i := 0; i+6 <= len(p); i += 6 {
					h.settings[binary.BigEndian.Uint16(p[i:])] = binary.BigEndian.Uint32(p[i+2:])
				}
				go h.write(frameSettings, flagAck, 0, nil)
				if !gotSettings {
					gotSettings = true
					close(h.gotSet)
				}
			}
		case framePing:
			if flags&flagAck == 0 {
				go h.write(framePing, flagAck, 0, p)
			}
		case frameHeaders:
			if h.status[id] == 0 {
				h.status[id] = statusOfBlock(p, flags)
			}
			if flags&flagEndStream != 0 {
				h.end(id)
			}
		case frameData:
			h.data[id] = append(h.data[id], p...)
			if flags&flagEndStream != 0 {
				h.end(id)
			}
		case frameRSTStream:
			if len(p) == 4 {
				h.reset[id] = binary.BigEndian.Uint32(p)
			}
			h.end(id)
		case frameGoAway:
			h.goaway = true
		}
		h.mu.Unlock()
	}
}

// statusOfBlock decodes :status, the first field of a response header
// block: an indexed field of the static table (200, 204, 206, 304, 400,
// 404, 500) or a literal with the indexed name :status and a raw or
// Huffman-coded value (digits only).
func statusOfBlock(p []byte, flags byte) int {
	const padded, priority = 0x8, 0x20
	if flags&padded != 0 && len(p) > 0 {
		pad := int(p[0])
		p = p[1:]
		if pad <= len(p) {
			p = p[:len(p)-pad]
		}
	}
	if flags&priority != 0 && len(p) >= 5 {
		p = p[5:]
	}
	if len(p) == 0 {
		return 0
	}
	static := map[byte]int{0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404, 0x8e: 500}
	if s, ok := static[p[0]]; ok {
		return s
	}
	// Literal with incremental indexing (0x48), without (0x08) or never
	// indexed (0x18), name :status (static index 8).
	if (p[0] != 0x48 && p[0] != 0x08 && p[0] != 0x18) || len(p) < 2 {
		return 0
	}
	huff, n := p[1]&0x80 != 0, int(p[1]&0x7f)
	v := p[2:]
	if n > len(v) {
		return 0
	}
	v = v[:n]
	if !huff {
		return atoi3(string(v))
	}
	// Digits in the HPACK Huffman code: 0-2 are 00000-00010, 3-9 are
	// 011001-011111; the padding is ones.
	var digits []byte
	bits, nbits := uint64(0), 0
	for _, c := range v {
		bits, nbits = bits<<8|uint64(c), nbits+8
	}
	for nbits >= 5 {
		five := bits >> (nbits - 5) & 0x1f
		if five <= 2 {
			digits = append(digits, byte('0'+five))
			nbits -= 5
			continue
		}
		if nbits < 6 {
			break
		}
		six := bits >> (nbits - 6) & 0x3f
		if six < 0x19 || six > 0x1f {
			break
		}
		digits = append(digits, byte('3'+six-0x19))
		nbits -= 6
	}
	return atoi3(string(digits))
}

func atoi3(s string) int {
	if len(s) != 3 {
		return 0
	}
	n := 0
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}
