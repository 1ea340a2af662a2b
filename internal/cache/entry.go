package cache

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Entry is one stored answer, or a vary record: the request headers the
// upstream's Vary names for a resource (Status 0, no Header, no Body).
// An Entry is immutable once stored.
type Entry struct {
	Status int
	Header http.Header
	Body   []byte
	// Stored is when the answer was received (RFC 9111's response_time).
	Stored time.Time
	// InitialAge is the answer's corrected initial age at Stored (RFC 9111
	// section 4.2.3).
	InitialAge time.Duration
	// Lifetime is the freshness lifetime (section 4.2.1).
	Lifetime time.Duration
	// Stale is how long past Lifetime the entry may be served while one
	// request revalidates it.
	Stale time.Duration
	// MustRevalidate forbids serving the entry stale (must-revalidate,
	// proxy-revalidate, s-maxage: section 5.2.2).
	MustRevalidate bool
	// Vary names the request headers the upstream's Vary lists, canonical
	// and sorted.
	Vary []string
	// Route and Path name what the entry answers, for purges.
	Route, Path string
}

// contentLength returns the Content-Length field of the body: the stored
// one when it is right (no allocation), else a new one.
func (e *Entry) contentLength() []string {
	if v := e.Header["Content-Length"]; len(v) == 1 {
		if n, err := strconv.Atoi(v[0]); err == nil && n == len(e.Body) {
			return v[:1:1]
		}
	}
	return []string{strconv.Itoa(len(e.Body))}
}

// isVary reports whether e is a vary record.
func (e *Entry) isVary() bool { return e.Status == 0 }

// Age is the entry's current age (section 4.2.3).
func (e *Entry) Age(now time.Time) time.Duration {
	return e.InitialAge + max(now.Sub(e.Stored), 0)
}

// Fresh reports whether the entry is fresh at now.
func (e *Entry) Fresh(now time.Time) bool { return e.Age(now) < e.Lifetime }

// validators reports whether the entry can be revalidated.
func (e *Entry) validators() bool {
	return e.Header.Get("Etag") != "" || e.Header.Get("Last-Modified") != ""
}

// keep is how long a store keeps the entry from now: while fresh, then
// Stale, and an entry with validators one lifetime more (at least a
// minute), so that it can be revalidated rather than fetched again.
func (e *Entry) keep(now time.Time) time.Duration {
	d := e.Lifetime - e.Age(now)
	extra := e.Stale
	if !e.isVary() && e.validators() {
		extra = max(extra, e.Lifetime, time.Minute)
	}
	return max(d, 0) + extra
}

// Size is about how many bytes the entry holds.
func (e *Entry) Size() int {
	n := 64 + len(e.Body) + len(e.Route) + len(e.Path)
	for _, v := range e.Vary {
		n += len(v) + 2
	}
	for k, vs := range e.Header {
		n += len(k) + 2
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	return n
}

// entryVersion starts every encoded entry.
const entryVersion = 1

// Marshal encodes e compactly: a version byte, then varints and
// length-prefixed strings (status, times, flags, route, path, vary,
// header, body).
func (e *Entry) Marshal() []byte {
	b := make([]byte, 0, e.Size())
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, e.Stored.UnixNano())
	b = binary.AppendVarint(b, int64(e.InitialAge))
	b = binary.AppendVarint(b, int64(e.Lifetime))
	b = binary.AppendVarint(b, int64(e.Stale))
	var flags byte
	if e.MustRevalidate {
		flags |= 1
	}
	b = append(b, flags)
	b = appendString(b, e.Route)
	b = appendString(b, e.Path)
	b = binary.AppendUvarint(b, uint64(len(e.Vary)))
	for _, v := range e.Vary {
		b = appendString(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for k, vs := range e.Header {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.Body)))
	return append(b, e.Body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errCorrupt reports an encoded entry that cannot be read.
var errCorrupt = errors.New("cache entry is corrupt")

// Unmarshal decodes an entry Marshal encoded.
func Unmarshal(b []byte) (*Entry, error) {
	d := decoder{b: b}
	if d.byte() != entryVersion {
		return nil, errCorrupt
	}
	e := &Entry{}
	status := d.uvarint()
	if status > 999 {
		return nil, errCorrupt
	}
	e.Status = int(status)
	e.Stored = time.Unix(0, d.varint())
	e.InitialAge = time.Duration(d.varint())
	e.Lifetime = time.Duration(d.varint())
	e.Stale = time.Duration(d.varint())
	e.MustRevalidate = d.byte()&1 != 0
	e.Route = d.string()
	e.Path = d.string()
	if n := d.count(); n > 0 {
		e.Vary = make([]string, 0, n)
		for range n {
			e.Vary = append(e.Vary, d.string())
		}
	}
	if n := d.count(); n > 0 || !e.isVary() {
		e.Header = make(http.Header, n)
		for range n {
			k := d.string()
			m := d.count()
			vs := make([]string, 0, m)
			for range m {
				vs = append(vs, d.string())
			}
			e.Header[k] = vs
		}
	}
	if n := d.count(); n > 0 {
		e.Body = d.bytes(n)
	}
	if d.err || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return e, nil
}

// decoder reads what Marshal wrote; after the first short read it reads
// only zeros and sets err.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that the remaining bytes could hold.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = true
		d.b = nil
		return 0
	}
	return int(n)
}

func (d *decoder) bytes(n int) []byte {
	out := make([]byte, n)
	copy(out, d.b[:n])
	d.b = d.b[n:]
	return out
}

func (d *decoder) string() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
