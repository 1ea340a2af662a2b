package wire

import (
	"bytes"
	"math"
	"sync/atomic"
)

// Scanner states. Each names what the next byte belongs to.
const (
	sStart        uint8 = iota // before a request line (skipping CR/LF after a POST)
	sMethod                    // method token
	sTarget                    // request target
	sVersion                   // HTTP-version
	sReqLF                     // CR ending the request line seen
	sHdrStart                  // start of a header line or of the empty line
	sName                      // header field name
	sValue                     // header value whose content does not matter
	sCLValue                   // Content-Length value
	sHdrLF                     // CR ending a header line seen
	sEndLF                     // CR of the empty line seen
	sBody                      // Content-Length body
	sChunkSize                 // chunk-size line
	sChunkLF                   // CR ending the chunk-size line seen
	sChunkData                 // chunk data
	sChunkDataCR               // CR after chunk data expected
	sChunkDataLF               // LF after chunk data expected
	sTrailerStart              // start of a trailer line or of the final CRLF
	sTrailer                   // trailer line
	sTrailerLF                 // CR ending a trailer line seen
	sTrailerEndLF              // CR of the final CRLF seen
	sStopped                   // verdict reached; nothing more is scanned
)

// Per-block flags.
const (
	fHasCL   uint8 = 1 << iota // a Content-Length header was seen
	fHasTE                     // a Transfer-Encoding header was seen
	fHTTP10                    // HTTP/1.0
	fPost                      // method is exactly "POST"
	fOptions                   // method is exactly "OPTIONS"
	fStar                      // target is exactly "*"
)

// Header names the scanner cares about, lower case.
const (
	nameCL = "content-length"
	nameTE = "transfer-encoding"
	mCL    = 1
	mTE    = 2
)

// Sub-phases of a Content-Length value and of a chunk-size line.
const (
	vLead  = 0 // leading whitespace (value) / hex digits (chunk size)
	vNum   = 1 // digits (value) / trailing whitespace (chunk size)
	vTrail = 2 // trailing whitespace (value) / chunk extension (chunk size)
)

const (
	// maxChunkLine bounds a chunk-size line without its CRLF. Go's reader
	// gives up on lines that do not fit its 4 KiB buffer.
	maxChunkLine = 4094
	// maxTrailer bounds the trailer section: Go wants the whole of it in
	// its 4 KiB buffer.
	maxTrailer = 4096
	// maxChunkDigits is the longest chunk size Go accepts (leading zeros
	// included).
	maxChunkDigits = 16
	// postSkip is how many CR/LF bytes Go's server discards before the
	// request that follows a POST (RFC 7230 §3.5 tolerance).
	postSkip = 4
)

// scanner is a streaming HTTP/1 request framing parser. It sees each byte
// the server reads exactly once, in order, in chunks of any size, and keeps
// no bytes: only the few numbers below. It must not be fed concurrently;
// verdict may be called from any goroutine.
type scanner struct {
	state uint8
	flags uint8
	match uint8 // header-name candidates still possible
	sub   uint8 // sub-phase of a value or chunk-size line
	skip  uint8 // CR/LF bytes still to ignore before a request line
	dig   uint8 // hex digits of the chunk size so far
	n     int   // bytes of the current token, line or trailer section
	cl    int64 // Content-Length of the current block
	v     uint64
	rem   uint64 // body bytes still to skip
	blk   int64  // index of the block being scanned

	// limit is the index of the first block not known to be good and why
	// says what it is; every block from limit on shares that verdict.
	limit atomic.Int64
	why   atomic.Uint32
}

func (s *scanner) init() { s.limit.Store(math.MaxInt64) }

// verdict returns the verdict for the block with index i, which the server
// has already read completely.
func (s *scanner) verdict(i int64) reason {
	if i < s.limit.Load() {
		return reasonNone
	}
	return reason(s.why.Load())
}

// stop ends scanning: blocks from index at on get verdict r.
func (s *scanner) stop(at int64, r reason) {
	s.state = sStopped
	// why first: verdict loads limit first, so it never pairs a new limit
	// with an old reason.
	s.why.Store(uint32(r))
	s.limit.Store(at)
}

// bad stops with a verdict on the current header block.
func (s *scanner) bad(r reason) { s.stop(s.blk, r) }

// badBody stops with a verdict on the requests after the current one: its
// header block was fine, but its body framing is broken, so whatever
// follows on the connection cannot be trusted.
func (s *scanner) badBody(r reason) { s.stop(s.blk+1, r) }

func (s *scanner) endRequest() {
	s.blk++
	s.skip = 0
	if s.flags&fPost != 0 {
		s.skip = postSkip
	}
	s.state = sStart
}

// endHeader decides, at the empty line, the block's verdict and framing.
func (s *scanner) endHeader() {
	f := s.flags
	switch {
	case f&fOptions != 0 && f&fStar != 0:
		// Unless DisableGeneralOptionsHandler is set, Go answers "OPTIONS *"
		// itself without calling the Handler, so the request count would
		// drift. The gateway has no use for it: refuse it, or the request
		// after it.
		s.bad(reasonOptionsStar)
	case f&fHasCL != 0 && f&fHasTE != 0:
		s.bad(reasonCLTE) // RFC 9112 §6.1.
	case f&fHasTE != 0 && f&fHTTP10 != 0:
		s.bad(reasonTE10) // RFC 9112 §6.1: Go silently ignores TE here.
	case f&fHasTE != 0:
		// Go answers 501 for any TE but "chunked", so chunked is the only
		// framing that matters.
		s.state, s.sub, s.n, s.v, s.dig = sChunkSize, vLead, 0, 0, 0
	case s.cl > 0:
		s.state, s.rem = sBody, uint64(s.cl)
	default:
		s.endRequest()
	}
}

// line outcomes of skipLine.
const (
	lineMore   = iota // no CR or LF: the line goes on
	lineCR            // the chunk ended with a CR: LF must follow
	lineEnd           // CRLF consumed
	lineBareLF        // LF without CR
	lineBareCR        // CR not followed by LF
)

// skipLine consumes the rest of a line whose content does not matter and
// returns how many bytes it consumed and how the line went on.
func skipLine(p []byte) (int, int) {
	j := bytes.IndexByte(p, '\n')
	if j < 0 {
		k := bytes.IndexByte(p, '\r')
		switch {
		case k < 0:
			return len(p), lineMore
		case k == len(p)-1:
			return len(p), lineCR
		}
		return k, lineBareCR
	}
	switch k := bytes.IndexByte(p[:j], '\r'); {
	case k < 0:
		return j, lineBareLF
	case k != j-1:
		return k, lineBareCR
	}
	return j + 1, lineEnd
}

// scan feeds the next bytes read from the connection.
func (s *scanner) scan(p []byte) {
	i := 0
	for i < len(p) {
		switch s.state {
		case sStopped:
			return

		case sStart:
			if b := p[i]; s.skip > 0 && (b == '\r' || b == '\n') {
				s.skip--
				i++
				continue
			}
			s.skip = 0
			s.state, s.flags, s.n, s.cl = sMethod, fPost|fOptions, 0, 0

		case sMethod:
			b := p[i]
			i++
			if b == ' ' {
				if s.n == 0 {
					s.bad(reasonUnknown) // Go refuses it.
					return
				}
				if s.n != len("POST") {
					s.flags &^= fPost
				}
				if s.n != len("OPTIONS") {
					s.flags &^= fOptions
				}
				s.state, s.n = sTarget, 0
				s.flags |= fStar
				continue
			}
			if !isTchar(b) {
				// Go refuses the request; this also stops scanning quickly
				// on whatever a hijacked connection carries.
				s.bad(reasonUnknown)
				return
			}
			if s.n >= len("POST") || b != "POST"[s.n] {
				s.flags &^= fPost
			}
			if s.n >= len("OPTIONS") || b != "OPTIONS"[s.n] {
				s.flags &^= fOptions
			}
			s.n++

		case sTarget:
			j := i
			for j < len(p) && p[j] != ' ' && p[j] != '\r' && p[j] != '\n' {
				j++
			}
			if j > i && (s.n > 0 || p[i] != '*' || j-i > 1) {
				s.flags &^= fStar
			}
			s.n += j - i
			i = j
			if i == len(p) {
				continue
			}
			if p[i] != ' ' || s.n == 0 {
				s.bad(reasonUnknown) // No version, or no target: Go refuses it.
				return
			}
			i++
			s.state, s.n = sVersion, 0

		case sVersion:
			b := p[i]
			i++
			switch {
			case b == '\r':
				s.state = sReqLF
			case b == '\n':
				s.bad(reasonBareLF)
				return
			case s.n < 5 && b == "HTTP/"[s.n], s.n == 6 && b == '.':
				s.n++
			case s.n == 5 && b == '1':
				s.n++
			case s.n == 7 && isDigit(b):
				if b == '0' {
					s.flags |= fHTTP10
				}
				s.n++
			default:
				// Malformed, or not HTTP/1.x: Go answers 400 or 505, or
				// (PRI * HTTP/2.0) hands the connection to HTTP/2.
				s.bad(reasonUnknown)
				return
			}

		case sReqLF:
			if p[i] != '\n' {
				s.bad(reasonBareCR)
				return
			}
			i++
			if s.n != len("HTTP/1.1") {
				s.bad(reasonUnknown)
				return
			}
			s.state = sHdrStart

		case sHdrStart:
			switch p[i] {
			case '\r':
				s.state = sEndLF
				i++
			case '\n':
				s.bad(reasonBareLF)
				return
			case ' ', '\t':
				s.bad(reasonObsFold) // RFC 9112 §5.2.
				return
			default:
				s.state, s.n, s.match = sName, 0, mCL|mTE
			}

		case sName:
			for i < len(p) {
				b := p[i]
				if b == ':' {
					break
				}
				if b == '\r' || b == '\n' {
					s.bad(reasonHeaderLine)
					return
				}
				if s.match != 0 {
					// b|0x20 maps only letters to letters and only '-' (and
					// CR, handled above) to '-', so it is a safe fold here.
					l := b | 0x20
					if s.n >= len(nameCL) || l != nameCL[s.n] {
						s.match &^= mCL
					}
					if s.n >= len(nameTE) || l != nameTE[s.n] {
						s.match &^= mTE
					}
				}
				s.n++
				i++
			}
			if i == len(p) {
				continue
			}
			i++ // The colon.
			switch {
			case s.match&mCL != 0 && s.n == len(nameCL):
				s.state, s.sub, s.v = sCLValue, vLead, 0
			case s.match&mTE != 0 && s.n == len(nameTE):
				s.flags |= fHasTE
				s.state = sValue
			default:
				s.state = sValue
			}

		case sValue:
			k, how := skipLine(p[i:])
			i += k
			switch how {
			case lineCR:
				s.state = sHdrLF
			case lineEnd:
				s.state = sHdrStart
			case lineBareLF:
				s.bad(reasonBareLF)
				return
			case lineBareCR:
				s.bad(reasonBareCR)
				return
			}

		case sCLValue:
			b := p[i]
			i++
			switch {
			case b == '\r':
				if s.sub == vLead {
					s.bad(reasonBadCL) // Empty.
					return
				}
				if s.flags&fHasCL != 0 && uint64(s.cl) != s.v {
					s.bad(reasonDupCL)
					return
				}
				s.flags |= fHasCL
				s.cl = int64(s.v)
				s.state = sHdrLF
			case b == '\n':
				s.bad(reasonBareLF)
				return
			case b == ' ' || b == '\t':
				if s.sub == vNum {
					s.sub = vTrail
				}
			case isDigit(b) && s.sub != vTrail:
				d := uint64(b - '0')
				if s.v > (math.MaxInt64-d)/10 {
					s.bad(reasonBadCL) // Go refuses lengths over 63 bits.
					return
				}
				s.v = s.v*10 + d
				s.sub = vNum
			default:
				s.bad(reasonBadCL)
				return
			}

		case sHdrLF:
			if p[i] != '\n' {
				s.bad(reasonBareCR)
				return
			}
			i++
			s.state = sHdrStart

		case sEndLF:
			if p[i] != '\n' {
				s.bad(reasonBareCR)
				return
			}
			i++
			s.endHeader()

		case sBody:
			if k := uint64(len(p) - i); k < s.rem {
				s.rem -= k
				i = len(p)
				continue
			}
			i += int(s.rem)
			s.rem = 0
			s.endRequest()

		case sChunkSize:
			b := p[i]
			i++
			s.n++
			if s.n > maxChunkLine {
				s.badBody(reasonChunkLine)
				return
			}
			if b == '\r' {
				s.state = sChunkLF
				continue
			}
			if b == '\n' {
				s.badBody(reasonChunkBareLF)
				return
			}
			// Go trims trailing whitespace, then cuts the extension at ';',
			// then wants only hex digits: "3 ;x" is refused, "3;x " is not.
			switch s.sub {
			case vLead:
				switch h := unhex(b); {
				case h >= 0:
					if s.dig == maxChunkDigits {
						s.badBody(reasonChunkSize)
						return
					}
					s.dig++
					s.v = s.v<<4 | uint64(h)
				case b == ';':
					s.sub = vTrail
				case b == ' ' || b == '\t':
					s.sub = vNum
				default:
					s.badBody(reasonChunkSize)
					return
				}
			case vNum:
				if b != ' ' && b != '\t' {
					s.badBody(reasonChunkSize)
					return
				}
			}

		case sChunkLF:
			if p[i] != '\n' {
				s.badBody(reasonChunkBareCR)
				return
			}
			i++
			switch {
			case s.dig == 0:
				s.badBody(reasonChunkSize)
				return
			case s.v == 0:
				s.state, s.n = sTrailerStart, 0
			default:
				s.state, s.rem = sChunkData, s.v
			}

		case sChunkData:
			if k := uint64(len(p) - i); k < s.rem {
				s.rem -= k
				i = len(p)
				continue
			}
			i += int(s.rem)
			s.rem = 0
			s.state = sChunkDataCR

		case sChunkDataCR:
			if p[i] != '\r' {
				s.badBody(reasonChunkData)
				return
			}
			i++
			s.state = sChunkDataLF

		case sChunkDataLF:
			if p[i] != '\n' {
				s.badBody(reasonChunkData)
				return
			}
			i++
			s.state, s.sub, s.n, s.v, s.dig = sChunkSize, vLead, 0, 0, 0

		case sTrailerStart:
			switch p[i] {
			case '\r':
				s.state = sTrailerEndLF
				i++
			case '\n':
				s.badBody(reasonChunkBareLF)
				return
			case ' ', '\t':
				s.badBody(reasonTrailer)
				return
			default:
				s.state = sTrailer
			}

		case sTrailer:
			k, how := skipLine(p[i:])
			i += k
			s.n += k
			if s.n > maxTrailer {
				s.badBody(reasonTrailer)
				return
			}
			switch how {
			case lineCR:
				s.state = sTrailerLF
			case lineEnd:
				s.state = sTrailerStart
			case lineBareLF:
				s.badBody(reasonChunkBareLF)
				return
			case lineBareCR:
				s.badBody(reasonChunkBareCR)
				return
			}

		case sTrailerLF:
			if p[i] != '\n' {
				s.badBody(reasonChunkBareCR)
				return
			}
			i++
			s.n++
			s.state = sTrailerStart

		case sTrailerEndLF:
			if p[i] != '\n' {
				s.badBody(reasonChunkBareCR)
				return
			}
			i++
			s.endRequest()
		}
	}
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func unhex(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// isTchar reports whether b may appear in a token (RFC 9110 §5.6.2).
func isTchar(b byte) bool { return tchar[b] }

var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
