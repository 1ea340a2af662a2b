package server

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
)

// idSource makes request IDs: a random per-process prefix and a counter,
// unique without a random read per request.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [8]byte
	rand.Read(b[:])
	return &idSource{prefix: hex.EncodeToString(b[:])}
}

func (s *idSource) next() string {
	var buf [40]byte
	b := append(buf[:0], s.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, s.n.Add(1), 36)
	return string(b)
}

// requestID keeps the client's X-Request-ID when it is at most 128 visible
// ASCII characters, else makes one.
func requestID(r *http.Request, ids *idSource) string {
	if v := r.Header["X-Request-Id"]; len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	return ids.next()
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
