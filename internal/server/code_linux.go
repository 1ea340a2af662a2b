package server

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// releaseCode gives back the pages of the gateway's own executable that
// are mapped into the process: its code and read-only data. Most of what
// a start touches runs once (the initialisation of some 260 packages,
// compiling the configuration), and each page touched maps its
// neighbours too (the kernel maps up to 64 KiB around a fault), so about
// 20 MiB of the binary stay resident for the life of the process, counted
// in its RSS, though a request runs through a few MiB of it. Unmapping
// them (madvise MADV_DONTNEED) costs nothing to correctness: the pages are
// the file's, unchanged, and the next access maps them again from the page
// cache (a minor fault, well under a microsecond), so what stays resident
// afterwards is what the gateway runs. Only read-only private mappings of
// the executable without a single anonymous page are released: a page
// that a dynamic loader relocated (a read-only-after-relocation segment
// of a binary linked with cgo) is the process's own copy and must not be
// dropped. It returns the bytes released.
func releaseCode() int64 {
	exe, err := os.Stat("/proc/self/exe")
	if err != nil {
		return 0
	}
	st, ok := exe.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	var released int64
	for _, m := range parseSmaps(smaps) {
		if m.inode != st.Ino || !m.readOnlyPrivate || m.anonymous != 0 || m.end <= m.start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno == 0 {
			released += m.rss
		}
	}
	return released
}

// mapping is one entry of /proc/self/smaps, as much as releaseCode reads.
type mapping struct {
	start, end      uintptr
	inode           uint64
	readOnlyPrivate bool  // permissions r?-p: readable, not writable, private
	anonymous       int64 // bytes of the mapping that are anonymous pages
	rss             int64 // bytes of the mapping resident
}

// parseSmaps reads /proc/PID/smaps: a header line per mapping ("start-end
// perms offset dev inode [path]") followed by "Key: value kB" lines. A
// line it does not understand is skipped; a header it cannot parse makes
// the mapping count as not releasable.
func parseSmaps(b []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		f := bytes.Fields(line)
		if len(f) >= 5 && bytes.IndexByte(f[0], '-') > 0 && !bytes.HasSuffix(f[0], []byte(":")) {
			lo, hi, _ := bytes.Cut(f[0], []byte{'-'})
			start, err1 := strconv.ParseUint(string(lo), 16, 64)
			end, err2 := strconv.ParseUint(string(hi), 16, 64)
			inode, err3 := strconv.ParseUint(string(f[4]), 10, 64)
			m := mapping{start: uintptr(start), end: uintptr(end), inode: inode}
			p := f[1]
			m.readOnlyPrivate = err1 == nil && err2 == nil && err3 == nil && len(p) == 4 && p[0] == 'r' && p[1] == '-' && p[3] == 'p'
			if !m.readOnlyPrivate {
				m.anonymous = -1
			}
			out = append(out, m)
			continue
		}
		if len(out) == 0 || len(f) < 2 {
			continue
		}
		m := &out[len(out)-1]
		var dst *int64
		switch string(f[0]) {
		case "Anonymous:":
			dst = &m.anonymous
		case "Rss:":
			dst = &m.rss
		default:
			continue
		}
		n, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil || n < 0 || n > 1<<40 || *dst < 0 {
			*dst = -1 // unknown: not releasable
			continue
		}
		*dst = n << 10
	}
	return out
}
