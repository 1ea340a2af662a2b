package export

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOpenSpoolResumes(t *testing.T) {
	rec := func(s string) []byte { return appendRecord(nil, []byte(s)) }
	seg3 := slices.Concat(rec("a"), rec("b"), rec("c"))
	seg4 := slices.Concat(rec("d"), rec("e"))
	afterB := int64(len(rec("a")) + len(rec("b")))
	head := func(seq uint64, off int64) []byte {
		return rec(strconv.FormatUint(seq, 10) + " " + strconv.FormatInt(off, 10))
	}
	tests := []struct {
		name     string
		head     []byte // nil: no head file
		want     []string
		wantSegs []uint64
	}{
		{name: "no head", want: []string{"a", "b", "c", "d", "e"}, wantSegs: []uint64{3, 4}},
		{name: "head mid-segment", head: head(3, afterB), want: []string{"c", "d", "e"}, wantSegs: []uint64{3, 4}},
		{name: "damaged head", head: append([]byte("x"), head(3, afterB)[1:]...), want: []string{"a", "b", "c", "d", "e"}, wantSegs: []uint64{3, 4}},
		{name: "head names a removed segment", head: head(2, 40), want: []string{"a", "b", "c", "d", "e"}, wantSegs: []uint64{3, 4}},
		{name: "segments behind the head are removed", head: head(4, 0), want: []string{"d", "e"}, wantSegs: []uint64{4}},
		{name: "head past a truncated segment", head: head(3, 1<<20), want: []string{"a", "b", "c", "d", "e"}, wantSegs: []uint64{3, 4}},
		{name: "head past every segment", head: head(9, 0), wantSegs: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string][]byte{
				"seg-00000000000000000003.log": seg3,
				"seg-00000000000000000004.log": seg4,
				"head.tmp":                     []byte("half-written"),
				"seg-latest.log":               rec("ignored"),
				"notes.txt":                    []byte("ignored"),
			}
			if tt.head != nil {
				files[headFile] = tt.head
			}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := openSpool(dir, 1<<20, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("openSpool() error = %v", err)
			}
			t.Cleanup(func() { _ = s.close() })

			var segs []uint64
			for _, sg := range s.segs {
				segs = append(segs, sg.seq)
			}
			if diff := cmp.Diff(tt.wantSegs, segs); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
			if got := readAll(t, s); !slices.Equal(got, tt.want) {
				t.Errorf("records from the head (-want +got):\n%s", cmp.Diff(tt.want, got))
			}
			if _, err := os.Stat(filepath.Join(dir, "head.tmp")); !os.IsNotExist(err) {
				t.Errorf("head.tmp left behind: %v", err)
			}
			// New records go to a new segment, after every old one.
			if _, err := s.append(rec("f")); err != nil {
				t.Fatal(err)
			}
			if last := s.segs[len(s.segs)-1].seq; last != 5 {
				t.Errorf("new segment = %d, want 5", last)
			}
		})
	}
}

func TestAppendAfterWriteError(t *testing.T) {
	s, err := openSpool(t.TempDir(), 1<<20, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	if _, err := s.append(appendRecord(nil, []byte("a"))); err != nil {
		t.Fatal(err)
	}
	_ = s.w.Close() // the disk fails under the active segment
	if _, err := s.append(appendRecord(nil, []byte("lost"))); err == nil {
		t.Fatal("append() to a failed segment succeeded")
	}
	if _, err := s.append(appendRecord(nil, []byte("c"))); err != nil {
		t.Fatalf("append() after a failure = %v, want a fresh segment", err)
	}
	if got, want := readAll(t, s), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
	if len(s.segs) != 2 {
		t.Errorf("segments = %v, want the failed one sealed and a new one", s.segs)
	}
}

// readAll reads every record from the head without acknowledging.
func readAll(t *testing.T, s *spool) []string {
	t.Helper()
	var b batch
	if err := s.read(&b, 1<<20, bufio.NewReaderSize(nil, maxRecordBytes)); err != nil {
		t.Fatalf("read() error = %v", err)
	}
	defer s.unpin()
	var out []string
	for _, p := range b.payloads {
		out = append(out, string(b.buf[p[0]:p[1]]))
	}
	return out
}

func TestCountRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	var data []byte
	for i := range 10 {
		data = appendRecord(data, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	data = append(data, "garbage\n"...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	third := int64(len(appendRecord(nil, []byte(`{"n":0}`))) * 3)
	tests := []struct {
		from, to int64
		want     int
	}{
		{0, int64(len(data)), 10},
		{third, int64(len(data)), 7},
		{third, third, 0},
	}
	for _, tt := range tests {
		n, err := countRecords(path, tt.from, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		if n != tt.want {
			t.Errorf("countRecords(%d, %d) = %d, want %d", tt.from, tt.to, n, tt.want)
		}
	}
}
