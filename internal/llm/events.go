package llm

import "bytes"

// maxEvent bounds the bytes kept of one server-sent event: its data and
// its current line. A longer event is still relayed whole; it is only not
// read (no usage event is that long).
const maxEvent = 1 << 20

// eventScanner splits a text/event-stream into events as its bytes pass,
// a chunk at a time, by the rules of the HTML standard's event stream
// interpretation: a leading byte order mark is skipped; lines end with
// CRLF, LF or CR; a blank line ends an event; "data" lines are joined with LF; lines starting with ':' are
// comments. Only the data and event fields are kept.
type eventScanner struct {
	line     []byte
	lineLong bool
	data     []byte
	hasData  bool
	dataLong bool
	name     []byte
	// cr is set after a CR: a LF right after it ends nothing more.
	cr bool
	// bom counts the bytes of a leading UTF-8 byte order mark seen so far,
	// which the standard strips from the stream's start; bomDone is set
	// once the start is past.
	bom     int
	bomDone bool
}

var utf8BOM = [3]byte{0xef, 0xbb, 0xbf}

// feed scans p and calls boundary at every blank line with the event it
// ended (data nil for a block without data, or one too long to keep) and
// the index in p just after the blank line's end.
func (s *eventScanner) feed(p []byte, boundary func(name, data []byte, end int)) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !s.bomDone {
			if c == utf8BOM[s.bom] {
				s.bom++
				s.bomDone = s.bom == len(utf8BOM)
				continue
			}
			s.bomDone = true
			// Not a byte order mark: the bytes held back start the line.
			s.line = append(s.line, utf8BOM[:s.bom]...)
		}
		if s.cr {
			s.cr = false
			if c == '\n' {
				continue
			}
		}
		if c != '\r' && c != '\n' {
			// The rest of the line in p at once.
			j := lineEnd(p[i:])
			s.addLine(p[i : i+j])
			i += j - 1
			continue
		}
		s.cr = c == '\r'
		if len(s.line) == 0 && !s.lineLong {
			var data []byte
			if s.hasData && !s.dataLong {
				data = s.data
			}
			boundary(s.name, data, i+1)
			s.data, s.name = s.data[:0], s.name[:0]
			s.hasData, s.dataLong = false, false
			continue
		}
		s.field()
		s.line, s.lineLong = s.line[:0], false
	}
}

// lineEnd returns the index of the first CR or LF in b, or len(b).
// Two byte searches, the second bounded by the first, cost less than one
// search for either byte.
func lineEnd(b []byte) int {
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		j = len(b)
	}
	if k := bytes.IndexByte(b[:j], '\r'); k >= 0 {
		return k
	}
	return j
}

// addLine adds b to the line being read, up to maxEvent bytes.
func (s *eventScanner) addLine(b []byte) {
	if room := maxEvent - len(s.line); len(b) > room {
		b = b[:room]
		s.lineLong = true
	}
	s.line = append(s.line, b...)
}

// field processes the complete line in s.line.
func (s *eventScanner) field() {
	line := s.line
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	for i, c := range line {
		if c == ':' {
			name, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
			break
		}
	}
	switch string(name) {
	case "data":
		if s.lineLong {
			s.dataLong = true
		}
		if s.hasData {
			s.data = append(s.data, '\n')
		}
		s.hasData = true
		if len(s.data)+len(value) > maxEvent {
			s.dataLong = true
			return
		}
		s.data = append(s.data, value...)
	case "event":
		s.name = append(s.name[:0], value...)
	}
}
