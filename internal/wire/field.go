package wire

import "net/http"

// Field is one header field: a canonical name and one value.
type Field struct{ Name, Value string }

// ValidFieldName reports whether s is a header field name: a non-empty
// RFC 9110 token. It takes bytes too, so a parser need not convert.
func ValidFieldName[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// AddList adds a header given as a list, names (canonical) and values
// alternating, to h: a name's values join h's in the list's order. A name
// h does not hold yet gets its value as a slice of the list, capped, so no
// slice is allocated for it and a later append copies: the list must be
// the caller's alone (an upstream answer's, as the HTTP/1.1 client reads
// one) and not written after. A last name without a value is ignored.
func AddList(h http.Header, list []string) {
	for i := 0; i+1 < len(list); i += 2 {
		if prev, ok := h[list[i]]; ok {
			h[list[i]] = append(prev, list[i+1])
		} else {
			h[list[i]] = list[i+1 : i+2 : i+2]
		}
	}
}

// TrimOWS returns s without the optional white space (SP and HTAB) around
// it, as a field value or list element is read (RFC 9110 §5.6.3).
// strings.Trim with the cutset " \t" builds the set on every call; this
// is the loop it would run.
func TrimOWS[T string | []byte](s T) T {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// ValidFieldValue reports whether s can be sent as a header field value:
// no control characters other than tab, so it cannot end or split the line.
//
// Every header value the gateway sends or relays passes here, so it reads
// eight bytes at a time: a word goes byte by byte only when it holds a byte
// below 0x20 (a tab, or a control that fails) or 0x7f. Both tests are
// exact for presence (a borrow only spills above a byte that matched), and
// bytes from 0x80 up (obs-text) match neither. FuzzValidFieldValue holds it
// to the byte loop.
func ValidFieldValue[T string | []byte](s T) bool {
	for len(s) >= 8 {
		w := s[:8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		del := x ^ (0x7f * lowBits)
		if (x-0x20*lowBits)&^x&highBits|(del-lowBits)&^del&highBits != 0 && !validValueBytes(w) {
			return false
		}
		s = s[8:]
	}
	return validValueBytes(s)
}

// lowBits and highBits are the lowest and the highest bit of every byte of
// a word.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// validValueBytes is ValidFieldValue one byte at a time.
func validValueBytes[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
