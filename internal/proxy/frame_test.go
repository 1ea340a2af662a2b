package proxy

import (
	"bytes"
	"encoding/binary"
	"testing"
)

const (
	opPing = 0x9
	opPong = 0xa
)

// frameSpec describes one WebSocket frame for tests.
type frameSpec struct {
	fin    bool
	op     byte
	size   int
	masked bool
	// ext forces a 2- or 8-byte extended length for a short payload, as
	// the RFC forbids but the counter must survive.
	ext int
}

// encodeFrame appends the frame fs to b, with the shortest length encoding
// (RFC 6455, section 5.2) unless fs.ext says otherwise, and a payload of
// repeated bytes.
func encodeFrame(b []byte, fs frameSpec) []byte {
	b0 := fs.op
	if fs.fin {
		b0 |= 0x80
	}
	var mask byte
	if fs.masked {
		mask = 0x80
	}
	switch {
	case fs.size < 126 && fs.ext == 0:
		b = append(b, b0, mask|byte(fs.size))
	case fs.size <= 0xffff && fs.ext != 8:
		b = append(b, b0, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(fs.size))
	default:
		b = append(b, b0, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(fs.size))
	}
	if fs.masked {
		b = append(b, 0x37, 0xfa, 0x21, 0x3d)
	}
	// A payload of header-like bytes: counting them would be noticed.
	return append(b, bytes.Repeat([]byte{0x81}, fs.size)...)
}

func encodeFrames(specs []frameSpec) []byte {
	var b []byte
	for _, fs := range specs {
		b = encodeFrame(b, fs)
	}
	return b
}

// wantMessages is the reference count: a data frame with FIN is a whole
// message, and a continuation with FIN ends a fragmented one.
func wantMessages(specs []frameSpec) (n int64, closed bool) {
	open := false
	for _, fs := range specs {
		switch fs.op {
		case opText, opBinary:
			if fs.fin {
				n++
			}
			open = !fs.fin
		case opContinuation:
			if fs.fin && open {
				n++
				open = false
			}
		case opClose:
			closed = true
		}
	}
	return n, closed
}

// feedChunks feeds stream to a new counter in chunks of the given sizes
// (cycled) and returns the totals.
func feedChunks(stream []byte, sizes ...int) (*frameCounter, int64, bool) {
	var fc frameCounter
	var total int64
	closed := false
	for i := 0; len(stream) > 0; i++ {
		n := min(max(sizes[i%len(sizes)], 1), len(stream))
		m, c := fc.feed(stream[:n])
		total += m
		closed = closed || c
		stream = stream[n:]
	}
	return &fc, total, closed
}

func TestFrameCounter(t *testing.T) {
	t.Parallel()
	text := func(fin bool, size int) frameSpec { return frameSpec{fin: fin, op: opText, size: size} }
	cont := func(fin bool, size int) frameSpec { return frameSpec{fin: fin, op: opContinuation, size: size} }
	ctl := func(op byte) frameSpec { return frameSpec{fin: true, op: op, size: 2} }
	tests := []struct {
		name   string
		frames []frameSpec
		want   int64
	}{
		{"one text", []frameSpec{text(true, 5)}, 1},
		{"empty text", []frameSpec{text(true, 0)}, 1},
		{"binary, 16-bit length", []frameSpec{{fin: true, op: opBinary, size: 300}}, 1},
		{"binary, 64-bit length", []frameSpec{{fin: true, op: opBinary, size: 70_000}}, 1},
		{"length 125 and 126", []frameSpec{text(true, 125), text(true, 126)}, 2},
		{"fragmented", []frameSpec{text(false, 10), cont(false, 10), cont(true, 10)}, 1},
		{"fragmented with a ping inside", []frameSpec{text(false, 3), ctl(opPing), cont(true, 3)}, 1},
		{"control frames only", []frameSpec{ctl(opPing), ctl(opPong), ctl(opClose)}, 0},
		{"stray continuation", []frameSpec{cont(true, 4)}, 0},
		{"data after close", []frameSpec{text(true, 1), ctl(opClose), text(true, 1)}, 2},
		{"many", []frameSpec{text(true, 1), text(false, 1), cont(true, 1), {fin: true, op: opBinary, size: 200}, ctl(opPong), text(true, 0)}, 4},
	}
	for _, tt := range tests {
		for _, masked := range []bool{false, true} {
			name := tt.name
			if masked {
				name += " (client, masked)"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				specs := make([]frameSpec, len(tt.frames))
				for i, fs := range tt.frames {
					fs.masked = masked
					specs[i] = fs
				}
				if got, _ := wantMessages(specs); got != tt.want {
					t.Fatalf("test table: reference counts %d, table says %d", got, tt.want)
				}
				_, wantClosed := wantMessages(specs)
				stream := encodeFrames(specs)
				for _, sizes := range [][]int{{len(stream)}, {1}, {2, 3}, {7}, {13, 1, 4096}} {
					fc, got, closed := feedChunks(stream, sizes...)
					if got != tt.want || closed != wantClosed {
						t.Errorf("chunks %v: feed = %d messages, close %v; want %d, %v", sizes, got, closed, tt.want, wantClosed)
					}
					if !fc.atBoundary() {
						t.Errorf("chunks %v: not at a frame boundary after whole frames", sizes)
					}
				}
			})
		}
	}
}

func TestFrameCounterBoundary(t *testing.T) {
	t.Parallel()
	stream := encodeFrame(nil, frameSpec{fin: true, op: opBinary, size: 300, masked: true})
	var fc frameCounter
	if !fc.atBoundary() {
		t.Fatal("a new counter is not at a boundary")
	}
	for i := range len(stream) - 1 {
		fc.feed(stream[i : i+1])
		if fc.atBoundary() {
			t.Fatalf("at a boundary after %d of %d bytes of a frame", i+1, len(stream))
		}
	}
	fc.feed(stream[len(stream)-1:])
	if !fc.atBoundary() {
		t.Fatal("not at a boundary after the whole frame")
	}
}

// FuzzFrameCounter checks that the count does not depend on how the stream
// is cut, that it matches the reference for well-formed frames, and that
// arbitrary bytes never make the counter fail.
func FuzzFrameCounter(f *testing.F) {
	f.Add([]byte{0x81, 0x00, 0x01, 0x00, 0x80, 0x10}, []byte{1, 2, 3})
	f.Add([]byte{0x02, 0x40, 0x00, 0x80, 0x00, 0x00, 0x89, 0x00, 0x02}, []byte{5})
	f.Add([]byte{0x82, 0xff, 0xff, 0x88, 0x00, 0x02}, []byte{0, 200})
	f.Fuzz(func(t *testing.T, spec, cuts []byte) {
		// Any bytes at all: no panic, and the same count however cut.
		_, whole, _ := feedChunks(spec, len(spec))
		if len(cuts) > 0 {
			sizes := make([]int, len(cuts))
			for i, c := range cuts {
				sizes[i] = int(c)
			}
			if _, got, _ := feedChunks(spec, sizes...); got != whole {
				t.Fatalf("raw bytes: %d messages in one piece, %d in pieces %v", whole, got, sizes)
			}
		}

		// Well-formed frames built from spec, three bytes a frame.
		ops := [...]byte{opContinuation, opText, opBinary, opClose, opPing, opPong}
		var specs []frameSpec
		for i := 0; i+2 < len(spec) && len(specs) < 64; i += 3 {
			b := spec[i]
			fs := frameSpec{fin: b&0x80 != 0, op: ops[int(b&0x0f)%len(ops)], masked: b&0x40 != 0}
			fs.size = int(binary.BigEndian.Uint16(spec[i+1:])) % 2048
			switch b & 0x30 {
			case 0x10:
				fs.ext = 2
			case 0x20:
				fs.ext = 8
			}
			if fs.op >= opClose {
				fs.fin, fs.size = true, fs.size%126 // control frames are short and whole
			}
			specs = append(specs, fs)
		}
		stream := encodeFrames(specs)
		want, wantClosed := wantMessages(specs)
		sizes := []int{len(stream)}
		if len(cuts) > 0 {
			sizes = sizes[:0]
			for _, c := range cuts {
				sizes = append(sizes, int(c)*97)
			}
		}
		fc, got, closed := feedChunks(stream, sizes...)
		if got != want || closed != wantClosed {
			t.Fatalf("%d frames: %d messages, close %v; want %d, %v", len(specs), got, closed, want, wantClosed)
		}
		if len(stream) > 0 && !fc.atBoundary() {
			t.Fatal("not at a frame boundary after whole frames")
		}
	})
}
