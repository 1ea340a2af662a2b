package llm

import "bytes"

// maxCapture bounds the bytes kept of a top-level "usage" value.
const maxCapture = 64 << 10

// objectScanner finds the top-level "usage" member of a JSON object as
// its bytes pass, a chunk at a time, keeping only that member's value:
// an answer is never held whole. It does not validate the JSON; a value
// it captured is parsed on its own at the end.
type objectScanner struct {
	depth    int
	inString bool
	escaped  bool
	// readingKey is set inside a string that is a top-level key.
	readingKey bool
	// expectKey is set at depth 1 where the next string is a key.
	expectKey bool
	key       []byte
	keyLong   bool
	capturing bool
	overflow  bool
	value     []byte
	// usage is the last complete top-level usage value.
	usage []byte
	found bool
}

const usageKey = "usage"

// feed scans p.
func (s *objectScanner) feed(p []byte) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		// Most bytes are inside strings or nested values, which matter
		// only when kept: skip to the next byte that can change state.
		switch {
		case s.capturing || s.readingKey || s.escaped:
		case s.inString:
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				j = len(p) - i
			}
			if k := bytes.IndexByte(p[i:i+j], '\\'); k >= 0 {
				j = k
			}
			if j == len(p)-i {
				return
			}
			i += j
			c = p[i]
		case s.depth > 1:
			j := bytes.IndexAny(p[i:], "\"{}[]")
			if j < 0 {
				return
			}
			i += j
			c = p[i]
		}
		if s.inString {
			switch {
			case s.escaped:
				s.escaped = false
				s.keyByte(c)
			case c == '\\':
				s.escaped = true
				s.keyByte(c)
			case c == '"':
				s.inString = false
				if s.readingKey {
					s.readingKey = false
					s.expectKey = false
				}
			default:
				s.keyByte(c)
			}
			s.keep(c)
			continue
		}
		switch c {
		case '"':
			s.inString = true
			if s.depth == 1 && s.expectKey {
				s.readingKey = true
				s.key, s.keyLong = s.key[:0], false
			}
		case '{', '[':
			s.depth++
			if s.depth == 1 && c == '{' {
				s.expectKey = true
			}
		case '}', ']':
			s.depth--
			if s.depth == 0 {
				s.endValue()
				continue
			}
		case ':':
			if s.depth == 1 {
				if !s.keyLong && string(s.key) == usageKey {
					s.capturing, s.overflow, s.value = true, false, s.value[:0]
				}
				continue
			}
		case ',':
			if s.depth == 1 {
				s.endValue()
				s.expectKey = true
				continue
			}
		}
		s.keep(c)
	}
}

// keyByte adds c to the top-level key being read. Keys longer than
// "usage" are only marked long: they cannot match.
func (s *objectScanner) keyByte(c byte) {
	if !s.readingKey {
		return
	}
	if len(s.key) < len(usageKey) {
		s.key = append(s.key, c)
	} else {
		s.keyLong = true
	}
}

// keep adds c to the value being captured.
func (s *objectScanner) keep(c byte) {
	if !s.capturing {
		return
	}
	if len(s.value) >= maxCapture {
		s.overflow = true
		return
	}
	s.value = append(s.value, c)
}

func (s *objectScanner) endValue() {
	if s.capturing && !s.overflow {
		s.usage = append(s.usage[:0], s.value...)
		s.found = true
	}
	s.capturing = false
}
