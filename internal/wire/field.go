package wire

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

// ValidFieldValue reports whether s can be sent as a header field value:
// no control characters other than tab, so it cannot end or split the line.
func ValidFieldValue[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
