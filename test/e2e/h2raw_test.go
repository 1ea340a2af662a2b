package e2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// h2raw is a bare HTTP/2 client speaking frames over a connection (h2c with
// prior knowledge, or TLS with ALPN h2): enough to send what a well-behaved
// client library refuses to send (an absolute-form :path, a reset right
// after a request) and to read the server's settings, statuses, bodies and
// resets. Frames and header blocks are testkit's: HPACK literals without
// indexing and without Huffman coding out; only :status decoded back.
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
	if _, err := io.WriteString(c, testkit.H2Preface); err != nil {
		t.Fatal(err)
	}
	h.write(testkit.H2Settings, 0, 0, nil)
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
	h.c.Write(testkit.AppendH2Frame(nil, typ, flags, stream, payload))
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
	block := testkit.H2HeaderBlock(":method", "GET", ":scheme", "http", ":authority", authority, ":path", path)
	b := testkit.AppendH2Frame(nil, testkit.H2Headers, testkit.H2EndHeaders|testkit.H2EndStream, id, block)
	if reset {
		b = testkit.AppendH2Frame(b, testkit.H2RSTStream, 0, id, binary.BigEndian.AppendUint32(nil, errCodeCancel))
	}
	h.wmu.Lock()
	h.c.Write(b)
	h.wmu.Unlock()
	return id
}

// resetStreams opens n streams, each reset at once, in one write.
func (h *h2raw) resetStreams(authority, path string, n int) {
	var b []byte
	block := testkit.H2HeaderBlock(":method", "GET", ":scheme", "http", ":authority", authority, ":path", path)
	h.mu.Lock()
	for range n {
		id := h.next
		h.next += 2
		h.ended[id] = make(chan struct{})
		b = testkit.AppendH2Frame(b, testkit.H2Headers, testkit.H2EndHeaders|testkit.H2EndStream, id, block)
		b = testkit.AppendH2Frame(b, testkit.H2RSTStream, 0, id, binary.BigEndian.AppendUint32(nil, errCodeCancel))
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
	gotSettings := false
	for {
		typ, flags, id, p, err := testkit.ReadH2Frame(br)
		if err != nil {
			return
		}
		h.mu.Lock()
		switch typ {
		case testkit.H2Settings:
			if flags&testkit.H2Ack == 0 {
				for i := 0; i+6 <= len(p); i += 6 {
					h.settings[binary.BigEndian.Uint16(p[i:])] = binary.BigEndian.Uint32(p[i+2:])
				}
				go h.write(testkit.H2Settings, testkit.H2Ack, 0, nil)
				if !gotSettings {
					gotSettings = true
					close(h.gotSet)
				}
			}
		case testkit.H2Ping:
			if flags&testkit.H2Ack == 0 {
				go h.write(testkit.H2Ping, testkit.H2Ack, 0, p)
			}
		case testkit.H2Headers:
			if h.status[id] == 0 {
				h.status[id], _ = testkit.H2Status(p, flags)
			}
			if flags&testkit.H2EndStream != 0 {
				h.end(id)
			}
		case testkit.H2Data:
			h.data[id] = append(h.data[id], p...)
			if flags&testkit.H2EndStream != 0 {
				h.end(id)
			}
		case testkit.H2RSTStream:
			if len(p) == 4 {
				h.reset[id] = binary.BigEndian.Uint32(p)
			}
			h.end(id)
		case testkit.H2GoAway:
			h.goaway = true
		}
		h.mu.Unlock()
	}
}
