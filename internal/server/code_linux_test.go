package server

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

func TestParseSmaps(t *testing.T) {
	in := []byte(`00400000-00c00000 r-xp 00000000 08:01 1234 /usr/bin/gantry
Size:               8192 kB
Rss:                5120 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
00c00000-01000000 r--p 00800000 08:01 1234 /usr/bin/gantry
Rss:                1024 kB
Anonymous:             8 kB
01000000-01100000 rw-p 00c00000 08:01 1234 /usr/bin/gantry
Rss:                 512 kB
Anonymous:           512 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Rss:                 100 kB
Anonymous:           100 kB
7f0000200000-7f0000300000 r--s 00000000 08:01 99 /some/shared
Rss:                  64 kB
Anonymous:             0 kB
bogus-line r-xp 0 0 x
Rss:                  oops kB
00400000-00c00000 r-xp 00000000 08:01 7 /x
Rss:    99999999999999999 kB
Anonymous:            -4 kB
`)
	got := parseSmaps(in)
	want := []mapping{
		{start: 0x400000, end: 0xc00000, inode: 1234, readOnlyPrivate: true, rss: 5120 << 10},
		{start: 0xc00000, end: 0x1000000, inode: 1234, readOnlyPrivate: true, anonymous: 8 << 10, rss: 1024 << 10},
		{start: 0x1000000, end: 0x1100000, inode: 1234, anonymous: -1, rss: 512 << 10},
		{start: 0x7f0000000000, end: 0x7f0000100000, anonymous: -1, rss: 100 << 10},
		{start: 0x7f0000200000, end: 0x7f0000300000, inode: 99, anonymous: -1, rss: 64 << 10},
		{anonymous: -1, rss: -1},
		{start: 0x400000, end: 0xc00000, inode: 7, readOnlyPrivate: true, anonymous: -1, rss: -1},
	}
	if len(got) != len(want) {
		t.Fatalf("parseSmaps: %d mappings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzParseSmaps: whatever the input, parsing does not panic, a size is
// unknown (-1) or whole kB, and a mapping that is not read-only private
// never counts as releasable (its anonymous size is unknown).
func FuzzParseSmaps(f *testing.F) {
	f.Add([]byte("00400000-00c00000 r-xp 00000000 08:01 1234 /x\nRss: 4 kB\nAnonymous: 0 kB\n"))
	f.Add([]byte("a-b rw-p 0 0 0\nAnonymous: 4 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range parseSmaps(b) {
			for _, n := range []int64{m.anonymous, m.rss} {
				if n != -1 && (n < 0 || n%1024 != 0) {
					t.Fatalf("size %d in %+v", n, m)
				}
			}
			if !m.readOnlyPrivate && m.anonymous != -1 {
				t.Fatalf("a mapping that is not read-only private has a known anonymous size: %+v", m)
			}
		}
	})
}

// releaseCode unmaps this test binary's clean read-only pages: its
// resident file-backed memory falls, and the code it dropped still runs
// (it is mapped again on the next call).
func TestReleaseCode(t *testing.T) {
	before := rssFile(t)
	released := releaseCode()
	after := rssFile(t)
	if released <= 0 {
		t.Fatalf("releaseCode released nothing (RssFile %d kB)", before)
	}
	if after >= before {
		t.Errorf("RssFile %d kB before, %d kB after releasing %d kB", before, after, released>>10)
	}
	// Code released above runs again.
	if got := strconv.Itoa(42) + string(bytes.ToUpper([]byte("ok"))); got != "42OK" {
		t.Fatalf("after releaseCode: %q", got)
	}
}

// rssFile returns the process's file-backed resident memory in kB.
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("RssFile:")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
