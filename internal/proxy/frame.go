package proxy

// WebSocket opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

// frameCounter follows the WebSocket frames of one direction of a
// connection as the bytes pass, reading only the frame headers (RFC 6455,
// section 5.2), and counts data messages: a text or binary frame starts a
// message, continuation frames belong to it, and the frame with FIN set
// completes it. Control frames (close, ping, pong) are not messages, even
// between the fragments of one. Payloads are skipped, never buffered or
// unmasked.
//
// It trusts the stream: bytes that are not WebSocket frames give a
// meaningless count but never an error, since the gateway relays them
// either way. The zero value is at the start of a stream. Not safe for
// concurrent use: each direction has its own.
type frameCounter struct {
	// skip is how many payload bytes of the current frame are still to
	// pass.
	skip uint64
	// length accumulates the frame's payload length.
	length uint64
	// lenBytes and maskBytes are the header bytes still to come after the
	// first two: 0, 2 or 8 of extended length, then 0 or 4 of masking key.
	lenBytes, maskBytes uint8
	// pos is 0 at a frame boundary, 1 after the first header byte, 2
	// after the second.
	pos uint8
	// first is the frame's first header byte: FIN, RSV1-3 and opcode.
	first byte
	// inMessage is set between the first frame of a fragmented data
	// message and its last.
	inMessage bool
	// sawClose is set once a close frame's header has passed.
	sawClose bool
}

// feed follows p, the next bytes of the stream, and returns how many data
// messages completed in it and whether a close frame started in it.
func (fc *frameCounter) feed(p []byte) (messages int64, closed bool) {
	for len(p) > 0 {
		if fc.skip > 0 {
			n := uint64(len(p))
			if n > fc.skip {
				n = fc.skip
			}
			fc.skip -= n
			p = p[n:]
			continue
		}
		b := p[0]
		p = p[1:]
		switch fc.pos {
		case 0:
			fc.first, fc.pos = b, 1
			continue
		case 1:
			fc.pos = 2
			fc.length, fc.lenBytes, fc.maskBytes = uint64(b&0x7f), 0, 0
			switch fc.length {
			case 126:
				fc.length, fc.lenBytes = 0, 2
			case 127:
				fc.length, fc.lenBytes = 0, 8
			}
			if b&0x80 != 0 {
				fc.maskBytes = 4
			}
		default:
			if fc.lenBytes > 0 {
				fc.length = fc.length<<8 | uint64(b)
				fc.lenBytes--
			} else {
				fc.maskBytes--
			}
		}
		if fc.lenBytes+fc.maskBytes > 0 {
			continue
		}
		m, c := fc.frame()
		messages += m
		closed = closed || c
	}
	return messages, closed
}

// frame is called when a frame's header is complete: it classifies the
// frame and gets ready to skip its payload.
func (fc *frameCounter) frame() (messages int64, closed bool) {
	fin := fc.first&0x80 != 0
	switch op := fc.first & 0x0f; op {
	case opText, opBinary:
		fc.inMessage = !fin
		if fin {
			messages = 1
		}
	case opContinuation:
		if fin && fc.inMessage {
			fc.inMessage = false
			messages = 1
		}
	case opClose:
		fc.sawClose, closed = true, true
	}
	fc.skip, fc.pos = fc.length, 0
	return messages, closed
}

// atBoundary reports whether the stream is between two frames, where
// another frame may be inserted.
func (fc *frameCounter) atBoundary() bool { return fc.pos == 0 && fc.skip == 0 }
