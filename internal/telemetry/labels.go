package telemetry

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Method indexes. Methods are case-sensitive (RFC 9110 section 9.1), so
// "get" is not GET and is labelled OTHER.
const (
	methodGET = iota
	methodHEAD
	methodPOST
	methodPUT
	methodPATCH
	methodDELETE
	methodOPTIONS
	methodCONNECT
	methodTRACE
	methodOther
	numMethods
)

var methodLabels = [numMethods]string{
	methodGET:     "GET",
	methodHEAD:    "HEAD",
	methodPOST:    "POST",
	methodPUT:     "PUT",
	methodPATCH:   "PATCH",
	methodDELETE:  "DELETE",
	methodOPTIONS: "OPTIONS",
	methodCONNECT: "CONNECT",
	methodTRACE:   "TRACE",
	methodOther:   "OTHER",
}

// methodIndex maps a request method to its label index; anything outside
// the standard methods shares one index so a client cannot mint series.
func methodIndex(m string) int {
	switch m {
	case "GET":
		return methodGET
	case "HEAD":
		return methodHEAD
	case "POST":
		return methodPOST
	case "PUT":
		return methodPUT
	case "PATCH":
		return methodPATCH
	case "DELETE":
		return methodDELETE
	case "OPTIONS":
		return methodOPTIONS
	case "CONNECT":
		return methodCONNECT
	case "TRACE":
		return methodTRACE
	}
	return methodOther
}

// methodLabel returns the metric label for a request method: the method
// itself when it is one of the standard methods, else "OTHER".
func methodLabel(m string) string { return methodLabels[methodIndex(m)] }

const (
	minStatus = 100
	maxStatus = 599
)

// statusLabels holds the label of every status from 100 to 599, so the hot
// path never formats a number.
var statusLabels = func() [maxStatus - minStatus + 1]string {
	var t [maxStatus - minStatus + 1]string
	for i := range t {
		t[i] = strconv.Itoa(minStatus + i)
	}
	return t
}()

// statusOutOfRange labels statuses outside 100-599, which a well-behaved
// server never records; one label keeps such bugs from minting series.
const statusOutOfRange = "0"

// statusLabel returns the metric label for a status code: its decimal form
// for 100-599, else "0". It does not allocate.
func statusLabel(code int) string {
	if code < minStatus || code > maxStatus {
		return statusOutOfRange
	}
	return statusLabels[code-minStatus]
}

// statusKey is a status code folded into 0..500 (500 for out of range).
func statusKey(code int) uint32 {
	if code < minStatus || code > maxStatus {
		return maxStatus - minStatus + 1
	}
	return uint32(code - minStatus)
}

// counterTableSize bounds the (method, status) pairs one handle caches. A
// route rarely sees more than a dozen; the rest fall back to the vector's
// own lookup, which is slower but still correct.
const (
	counterTableBits = 5
	counterTableSize = 1 << counterTableBits
)

// counterTable caches the counters of one label prefix (a route, or an
// upstream target) by (method, status), so the hot path needs neither a map
// lookup nor label hashing. It is a fixed open-addressing table whose slots
// are filled once, lock-free, and never change afterwards.
type counterTable struct {
	vec    *prometheus.CounterVec
	prefix []string // label values that precede method (if any) and status
	method bool     // whether the vector has a method label
	slots  [counterTableSize]atomic.Pointer[counterSlot]
}

type counterSlot struct {
	key uint32
	c   prometheus.Counter
}

func newCounterTable(vec *prometheus.CounterVec, method bool, prefix ...string) *counterTable {
	return &counterTable{vec: vec, prefix: prefix, method: method}
}

// counter returns the counter for (method index, status). It allocates only
// the first time a pair is seen.
func (t *counterTable) counter(mi, code int) prometheus.Counter {
	key := uint32(mi)<<10 | statusKey(code)
	// Fibonacci hashing spreads the few keys a route sees over the table.
	i := (key * 2654435769) >> (32 - counterTableBits)
	for range counterTableSize {
		s := t.slots[i].Load()
		if s == nil {
			ns := &counterSlot{key: key, c: t.lookup(mi, code)}
			if t.slots[i].CompareAndSwap(nil, ns) {
				return ns.c
			}
			s = t.slots[i].Load()
		}
		if s.key == key {
			return s.c
		}
		i = (i + 1) & (counterTableSize - 1)
	}
	return t.lookup(mi, code)
}

func (t *counterTable) lookup(mi, code int) prometheus.Counter {
	lv := make([]string, 0, len(t.prefix)+2)
	lv = append(lv, t.prefix...)
	if t.method {
		lv = append(lv, methodLabels[mi])
	}
	lv = append(lv, statusLabel(code))
	return t.vec.WithLabelValues(lv...)
}

// deleteAll deletes the series of every cached slot from the vector, and
// reports whether the table filled up, when pairs beyond it were counted
// without being cached and only a scan finds them.
func (t *counterTable) deleteAll() (overflow bool) {
	full := true
	for i := range t.slots {
		sl := t.slots[i].Load()
		if sl == nil {
			full = false
			continue
		}
		lv := make([]string, 0, len(t.prefix)+2)
		lv = append(lv, t.prefix...)
		code := int(sl.key&(1<<10-1)) + minStatus
		if t.method {
			lv = append(lv, methodLabels[sl.key>>10])
		}
		lv = append(lv, statusLabel(code))
		t.vec.DeleteLabelValues(lv...)
	}
	return full
}
