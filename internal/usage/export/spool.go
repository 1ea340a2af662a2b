package export

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const (
	segPrefix    = "seg-"
	segSuffix    = ".log"
	headFile     = "head"
	rejectedFile = "rejected.log"
	// Files named replay*.log are taken into the spool at open, after
	// what is pending: how an operator resends rejected events.
	replayPrefix = "replay"

	minSegmentBytes = 4 << 10
	maxSegmentBytes = 8 << 20
)

var (
	// ErrClosed is returned by Enqueue once Close was called.
	ErrClosed = errors.New("usage export: closed")
	// ErrUndelivered is wrapped by Close's error when events stay in the
	// spool.
	ErrUndelivered = errors.New("usage export: events left undelivered in the spool")
)

// position is a place in the spool: a segment and a byte offset in it.
type position struct {
	seq uint64
	off int64
}

func (p position) before(q position) bool {
	return p.seq < q.seq || p.seq == q.seq && p.off < q.off
}

// segment is one spool file. size counts whole records only: for the
// active segment what was fsynced, for older ones the file's size.
type segment struct {
	seq  uint64
	size int64
}

// spool is the on-disk queue. Appends and the sender's reads run
// concurrently: appends only grow the active segment, and the sender reads
// below sizes it took under mu. A single sender reads, acks and rejects.
type spool struct {
	dir      string
	segBytes int64
	maxBytes int64
	log      *slog.Logger
	unlock   func() error

	mu      sync.Mutex
	closed  bool
	segs    []segment // oldest first
	w       *os.File  // the active segment, the last of segs; nil until the next append
	nextSeq uint64
	head    position // first byte not yet delivered
	// While pinned, the sender is reading or sending segments
	// pinFrom..pinTo, and the cap must not drop them.
	pinned         bool
	pinFrom, pinTo uint64
}

// openSpool opens (creating) dir and takes its lock. Segments left by an
// earlier process are kept, read-only, and delivered first.
func openSpool(dir string, maxBytes int64, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating spool dir: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &spool{dir: dir, maxBytes: maxBytes, log: log, unlock: unlock, nextSeq: 1}
	s.segBytes = min(max(maxBytes/16, minSegmentBytes), maxSegmentBytes)
	if err := s.load(); err != nil {
		_ = unlock()
		return nil, err
	}
	return s, nil
}

func (s *spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading spool dir: %w", err)
	}
	var replays []string // ReadDir sorts them by name
	for _, de := range entries {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(s.dir, name))
			continue
		}
		if strings.HasPrefix(name, replayPrefix) && strings.HasSuffix(name, segSuffix) && de.Type().IsRegular() {
			replays = append(replays, name)
			continue
		}
		seq, ok := parseSegName(name)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return fmt.Errorf("reading spool dir: %w", err)
		}
		s.segs = append(s.segs, segment{seq: seq, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	if n := len(s.segs); n > 0 {
		s.nextSeq = s.segs[n-1].seq + 1
	}

	// A lost or damaged head only costs a resend from the oldest segment.
	head, ok := s.readHead()
	for ok && len(s.segs) > 0 && s.segs[0].seq < head.seq {
		_ = os.Remove(s.segPath(s.segs[0].seq))
		s.segs = s.segs[1:]
	}
	switch {
	case len(s.segs) == 0:
		s.head = position{seq: s.nextSeq}
	case ok && s.segs[0].seq == head.seq && head.off <= s.segs[0].size:
		s.head = head
	default:
		s.head = position{seq: s.segs[0].seq}
	}
	return s.importReplays(replays)
}

// importReplays renames replay files into segments after every other.
func (s *spool) importReplays(names []string) error {
	for _, name := range names {
		info, err := os.Stat(filepath.Join(s.dir, name))
		if err != nil {
			return fmt.Errorf("reading replay file: %w", err)
		}
		seq := s.nextSeq
		if err := os.Rename(filepath.Join(s.dir, name), s.segPath(seq)); err != nil {
			return fmt.Errorf("taking in replay file: %w", err)
		}
		s.nextSeq++
		s.segs = append(s.segs, segment{seq: seq, size: info.Size()})
		s.log.Info("usage export: resending events from "+name, "bytes", info.Size())
	}
	if len(names) > 0 {
		return syncDir(s.dir)
	}
	return nil
}

func parseSegName(name string) (uint64, bool) {
	num, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	if num, ok = strings.CutSuffix(num, segSuffix); !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	return seq, err == nil
}

func (s *spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", segPrefix, seq, segSuffix))
}

// readHead reads the head file, a single record "<seq> <offset>".
func (s *spool) readHead() (position, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, headFile))
	if err != nil {
		return position{}, false
	}
	payload, err := decodeRecord(b)
	if err != nil {
		return position{}, false
	}
	a, b2, ok := strings.Cut(string(payload), " ")
	if !ok {
		return position{}, false
	}
	seq, err1 := strconv.ParseUint(a, 10, 64)
	off, err2 := strconv.ParseInt(b2, 10, 64)
	if err1 != nil || err2 != nil || off < 0 {
		return position{}, false
	}
	return position{seq: seq, off: off}, true
}

// writeHead records p. It is not fsynced: a stale head is behind, never
// ahead, and only causes duplicates the receiver drops.
func (s *spool) writeHead(p position) error {
	rec := appendRecord(nil, []byte(strconv.FormatUint(p.seq, 10)+" "+strconv.FormatInt(p.off, 10)))
	tmp := filepath.Join(s.dir, headFile+".tmp")
	if err := os.WriteFile(tmp, rec, 0o600); err != nil {
		return fmt.Errorf("writing spool head: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, headFile)); err != nil {
		return fmt.Errorf("writing spool head: %w", err)
	}
	return nil
}

// append makes lines (whole records) durable. It returns how many older
// events the cap dropped to make room.
func (s *spool) append(lines []byte) (dropped int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.w == nil {
		if err := s.createSegment(); err != nil {
			return 0, err
		}
	}
	last := &s.segs[len(s.segs)-1]
	if _, err := s.w.Write(lines); err != nil {
		s.abandonActive(last.size)
		return 0, fmt.Errorf("writing spool: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		s.abandonActive(last.size)
		return 0, fmt.Errorf("syncing spool: %w", err)
	}
	last.size += int64(len(lines))
	if last.size >= s.segBytes {
		s.seal()
	}
	return s.enforceCap(), nil
}

func (s *spool) createSegment() error {
	seq := s.nextSeq
	f, err := os.OpenFile(s.segPath(seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("creating spool segment: %w", err)
	}
	// The new name must survive a crash too, or fsynced records vanish with it.
	if err := syncDir(s.dir); err != nil {
		_ = f.Close()
		_ = os.Remove(s.segPath(seq))
		return fmt.Errorf("creating spool segment: %w", err)
	}
	s.nextSeq++
	s.w = f
	s.segs = append(s.segs, segment{seq: seq})
	return nil
}

// abandonActive seals the active segment after a failed write. The bytes
// past size may be partly on disk; cutting them keeps the file clean, and
// if that fails too, readers stop at size in this process and skip the
// damage in the next.
func (s *spool) abandonActive(size int64) {
	_ = s.w.Truncate(size)
	s.seal()
}

func (s *spool) seal() {
	if s.w == nil {
		return
	}
	if err := s.w.Close(); err != nil {
		s.log.Warn("usage export: closing spool segment", "error", err)
	}
	s.w = nil
}

// pending is the number of spooled bytes not yet delivered. Callers hold mu.
func (s *spool) pending() int64 {
	var n int64
	for _, sg := range s.segs {
		if sg.seq == s.head.seq {
			n += sg.size - s.head.off
		} else if sg.seq > s.head.seq {
			n += sg.size
		}
	}
	return n
}

// enforceCap drops the oldest sealed segments the sender is not using until
// the spool fits its cap, and returns how many events went. The active
// segment is never dropped, so the spool may exceed the cap by one segment.
// Callers hold mu.
func (s *spool) enforceCap() int {
	dropped := 0
	for s.maxBytes > 0 && s.pending() > s.maxBytes {
		i := slices.IndexFunc(s.segs, func(sg segment) bool {
			active := s.w != nil && sg.seq == s.segs[len(s.segs)-1].seq
			inUse := s.pinned && sg.seq >= s.pinFrom && sg.seq <= s.pinTo
			return !active && !inUse
		})
		if i < 0 {
			break
		}
		sg := s.segs[i]
		from := int64(0)
		if sg.seq == s.head.seq {
			from = s.head.off
		}
		n, err := countRecords(s.segPath(sg.seq), from, sg.size)
		if err != nil {
			s.log.Error("usage export: counting dropped spool segment", "error", err)
		}
		if err := os.Remove(s.segPath(sg.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("usage export: dropping spool segment", "error", err)
			break
		}
		s.segs = slices.Delete(s.segs, i, i+1)
		if sg.seq == s.head.seq {
			s.head = s.firstFrom(sg.seq + 1)
		}
		dropped += n
	}
	return dropped
}

// firstFrom is the start of the first segment at or after seq, or where
// the next one will be. Callers hold mu.
func (s *spool) firstFrom(seq uint64) position {
	for _, sg := range s.segs {
		if sg.seq >= seq {
			return position{seq: sg.seq}
		}
	}
	return position{seq: s.nextSeq}
}

func countRecords(path string, from, to int64) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rr := newRecordReader(io.NewSectionReader(f, from, to-from), nil)
	n := 0
	for {
		if _, err := rr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// batch is what the sender holds in memory: up to a limit of records read
// from the head on.
type batch struct {
	from, end position
	buf       []byte // the payloads, back to back
	payloads  [][2]int
	corrupt   int // damaged records passed over, lost
	torn      int // torn tails passed over, never acknowledged
	body      []byte
}

func (b *batch) n() int { return len(b.payloads) }

// jsonBody returns the payloads as one JSON array.
func (b *batch) jsonBody() []byte {
	b.body = append(b.body[:0], '[')
	for i, p := range b.payloads {
		if i > 0 {
			b.body = append(b.body, ',')
		}
		b.body = append(b.body, b.buf[p[0]:p[1]]...)
	}
	b.body = append(b.body, ']')
	return b.body
}

// read fills b with up to limit records from the head on and pins the
// segments it came from until ack or unpin.
func (s *spool) read(b *batch, limit int, br *bufio.Reader) error {
	s.mu.Lock()
	if s.pinned {
		s.mu.Unlock()
		return errors.New("usage export: spool read while a batch is pending")
	}
	from := s.head
	segs := slices.Clone(s.segs)
	s.pinned, s.pinFrom, s.pinTo = true, from.seq, ^uint64(0)
	s.mu.Unlock()

	b.from, b.end = from, from
	b.buf, b.payloads, b.corrupt, b.torn = b.buf[:0], b.payloads[:0], 0, 0
	err := b.fill(s, segs, limit, br)

	s.mu.Lock()
	s.pinTo = b.end.seq
	s.mu.Unlock()
	if err != nil {
		s.unpin()
	}
	return err
}

func (b *batch) fill(s *spool, segs []segment, limit int, br *bufio.Reader) error {
	for _, sg := range segs {
		if sg.seq < b.end.seq || b.n() >= limit {
			continue
		}
		start := int64(0)
		if sg.seq == b.end.seq {
			start = b.end.off
		}
		if start >= sg.size {
			b.end = position{seq: sg.seq, off: sg.size}
			continue
		}
		f, err := os.Open(s.segPath(sg.seq))
		if err != nil {
			return fmt.Errorf("reading spool: %w", err)
		}
		rr := newRecordReader(io.NewSectionReader(f, start, sg.size-start), br)
		for b.n() < limit {
			payload, err := rr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = f.Close()
				return fmt.Errorf("reading spool: %w", err)
			}
			at := len(b.buf)
			b.buf = append(b.buf, payload...)
			b.payloads = append(b.payloads, [2]int{at, len(b.buf)})
		}
		_ = f.Close()
		b.corrupt += rr.corrupt
		if rr.torn {
			b.torn++
		}
		b.end = position{seq: sg.seq, off: start + rr.off}
	}
	return nil
}

func (s *spool) unpin() {
	s.mu.Lock()
	s.pinned = false
	s.mu.Unlock()
}

// ack marks everything up to b.end delivered: the head moves there and
// segments wholly behind it are removed.
func (s *spool) ack(b *batch) error {
	s.mu.Lock()
	s.pinned = false
	if !s.head.before(b.end) {
		s.mu.Unlock()
		return nil
	}
	s.head = b.end
	var done []uint64
	for len(s.segs) > 0 {
		sg := s.segs[0]
		active := s.w != nil && len(s.segs) == 1
		if sg.seq > s.head.seq || sg.seq == s.head.seq && (active || s.head.off < sg.size) {
			break
		}
		done = append(done, sg.seq)
		s.segs = s.segs[1:]
	}
	if len(done) > 0 && done[len(done)-1] >= s.head.seq {
		s.head = s.firstFrom(s.head.seq + 1)
	}
	head := s.head
	s.mu.Unlock()

	// Head first: a crash between the two leaves a head naming a removed
	// segment, which load resolves to the next one.
	err := s.writeHead(head)
	for _, seq := range done {
		if rerr := os.Remove(s.segPath(seq)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("removing spool segment: %w", rerr))
		}
	}
	return err
}

// reject appends b's records to rejected.log, then acks them.
func (s *spool) reject(b *batch) error {
	path := filepath.Join(s.dir, rejectedFile)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err == nil && errors.Is(statErr, fs.ErrNotExist) {
		err = syncDir(s.dir)
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		s.unpin()
		return fmt.Errorf("opening rejected file: %w", err)
	}
	var lines []byte
	for _, p := range b.payloads {
		lines = appendRecord(lines, b.buf[p[0]:p[1]])
	}
	_, err = f.Write(lines)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.unpin()
		return fmt.Errorf("writing rejected file: %w", err)
	}
	return s.ack(b)
}

// pendingBytes reports the undelivered bytes.
func (s *spool) pendingBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending()
}

// stopAppends makes append fail with ErrClosed and seals the active
// segment, removing it when empty.
func (s *spool) stopAppends() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.w == nil {
		return
	}
	s.seal()
	if last := s.segs[len(s.segs)-1]; last.size == 0 {
		_ = os.Remove(s.segPath(last.seq))
		s.segs = s.segs[:len(s.segs)-1]
	}
}

// close stops appends, records the head and releases the directory lock.
// The sender must be done.
func (s *spool) close() error {
	s.stopAppends()
	s.mu.Lock()
	head, unlock := s.head, s.unlock
	s.unlock = func() error { return nil }
	s.mu.Unlock()
	return errors.Join(s.writeHead(head), unlock())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
