package export

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
)

// A record is one line: 8 lowercase hex digits of the payload's CRC-32C,
// one space, the payload (which never holds a newline: JSON escapes it),
// then "\n". Lines let a reader resynchronise after a damaged record, and
// the checksum tells a torn or damaged line from a good one.
const (
	crcHexLen = 8
	// maxRecordBytes bounds one line, prefix and newline included; longer
	// lines are damage. A usage event is well under 1KiB.
	maxRecordBytes = 64 << 10
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	errShortRecord   = errors.New("spool record too short")
	errRecordFormat  = errors.New("spool record malformed")
	errRecordCRC     = errors.New("spool record checksum mismatch")
	errRecordTooLong = errors.New("spool record too long")
)

// appendRecord appends payload's record line to dst.
func appendRecord(dst, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, "00000000 "...)
	dst = append(dst, payload...)
	dst = append(dst, '\n')
	putCRC(dst[start:start+crcHexLen], payload)
	return dst
}

// putCRC writes payload's checksum as 8 hex digits into dst[:8].
func putCRC(dst, payload []byte) {
	c := crc32.Checksum(payload, castagnoli)
	hex.Encode(dst[:crcHexLen], []byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
}

// decodeRecord checks one line (with or without its trailing "\n") and
// returns its payload, which aliases line.
func decodeRecord(line []byte) ([]byte, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	if len(line) < crcHexLen+2 {
		return nil, errShortRecord
	}
	if len(line)+1 > maxRecordBytes {
		return nil, errRecordTooLong
	}
	if line[crcHexLen] != ' ' {
		return nil, errRecordFormat
	}
	payload := line[crcHexLen+1:]
	if bytes.IndexByte(payload, '\n') >= 0 {
		return nil, errRecordFormat
	}
	var want [4]byte
	if _, err := hex.Decode(want[:], line[:crcHexLen]); err != nil {
		return nil, errRecordFormat
	}
	for _, b := range line[:crcHexLen] {
		if b >= 'A' && b <= 'F' {
			return nil, errRecordFormat // one spelling per checksum
		}
	}
	c := crc32.Checksum(payload, castagnoli)
	if c != uint32(want[0])<<24|uint32(want[1])<<16|uint32(want[2])<<8|uint32(want[3]) {
		return nil, errRecordCRC
	}
	return payload, nil
}

// recordReader reads record lines from a segment, skipping damaged ones.
type recordReader struct {
	br *bufio.Reader
	// off is the offset just past the last line consumed, relative to where
	// reading started.
	off int64
	// corrupt counts complete lines that failed to decode.
	corrupt int
	// torn is set when the input ended inside a line: a write a crash
	// interrupted, which was never acknowledged.
	torn bool
}

func newRecordReader(r io.Reader, buf *bufio.Reader) *recordReader {
	if buf == nil {
		buf = bufio.NewReaderSize(r, maxRecordBytes)
	} else {
		buf.Reset(r)
	}
	return &recordReader{br: buf}
}

// next returns the next good payload, valid until the following call, or
// io.EOF when the input is exhausted (a torn tail is consumed, not returned).
func (rr *recordReader) next() ([]byte, error) {
	for {
		line, err := rr.br.ReadSlice('\n')
		rr.off += int64(len(line))
		switch {
		case err == nil:
			payload, derr := decodeRecord(line)
			if derr == nil {
				return payload, nil
			}
			rr.corrupt++
		case errors.Is(err, bufio.ErrBufferFull):
			if end := rr.skipLine(); end != nil {
				return nil, end
			}
			rr.corrupt++
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				rr.torn = true
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// skipLine consumes the rest of an over-long line. It returns io.EOF (and
// marks the tail torn) if the input ends first.
func (rr *recordReader) skipLine() error {
	for {
		line, err := rr.br.ReadSlice('\n')
		rr.off += int64(len(line))
		switch {
		case err == nil:
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			rr.torn = true
			return io.EOF
		default:
			return err
		}
	}
}
