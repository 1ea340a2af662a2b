package export

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRecord(t *testing.T) {
	good := appendRecord(nil, []byte(`{"id":"a"}`))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	otherDigit := bytes.Clone(good)
	if otherDigit[0] == '0' {
		otherDigit[0] = '1'
	} else {
		otherDigit[0] = '0'
	}
	tests := []struct {
		name    string
		line    []byte
		want    string
		wantErr error
	}{
		{name: "good", line: good, want: `{"id":"a"}`},
		{name: "good without newline", line: good[:len(good)-1], want: `{"id":"a"}`},
		{name: "payload bit flipped", line: flip(12), wantErr: errRecordCRC},
		{name: "checksum digit changed", line: otherDigit, wantErr: errRecordCRC},
		{name: "upper-case checksum", line: []byte(strings.ToUpper(string(appendRecord(nil, []byte("zz"))))), wantErr: errRecordFormat},
		{name: "no space", line: append(bytes.Clone(good[:8]), good[9:]...), wantErr: errRecordFormat},
		{name: "not hex", line: []byte("zzzzzzzz {}\n"), wantErr: errRecordFormat},
		{name: "short", line: []byte("0000\n"), wantErr: errShortRecord},
		{name: "empty payload", line: []byte("00000000 \n"), wantErr: errShortRecord},
		{name: "newline inside", line: appendRecord(nil, []byte("a\nb")), wantErr: errRecordFormat},
		{name: "too long", line: appendRecord(nil, bytes.Repeat([]byte("x"), maxRecordBytes)), wantErr: errRecordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord(tt.line)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("decodeRecord(%q) error = %v, want %v", tt.line, err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("decodeRecord(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestRecordReader(t *testing.T) {
	rec := func(s string) string { return string(appendRecord(nil, []byte(s))) }
	long := "00000000 " + strings.Repeat("x", maxRecordBytes+10) + "\n"
	tests := []struct {
		name        string
		in          string
		want        []string
		wantCorrupt int
		wantTorn    bool
	}{
		{name: "empty", in: ""},
		{name: "records", in: rec("a1") + rec("b2") + rec("c3"), want: []string{"a1", "b2", "c3"}},
		{name: "torn tail", in: rec("a1") + rec("b2")[:5], want: []string{"a1"}, wantTorn: true},
		{name: "torn tail, newline lost", in: rec("a1") + strings.TrimSuffix(rec("b2"), "\n"), want: []string{"a1"}, wantTorn: true},
		{name: "damaged middle resyncs", in: rec("a1") + "0badbeef {\"x\":1}\n" + rec("c3"), want: []string{"a1", "c3"}, wantCorrupt: 1},
		{name: "zero-filled tail", in: rec("a1") + "\x00\x00\x00\x00", want: []string{"a1"}, wantTorn: true},
		{name: "over-long line skipped", in: rec("a1") + long + rec("c3"), want: []string{"a1", "c3"}, wantCorrupt: 1},
		{name: "over-long torn tail", in: rec("a1") + long[:maxRecordBytes+5], want: []string{"a1"}, wantTorn: true},
		{name: "blank lines", in: "\n\n" + rec("a1"), want: []string{"a1"}, wantCorrupt: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := newRecordReader(strings.NewReader(tt.in), nil)
			var got []string
			for {
				p, err := rr.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("next() error = %v", err)
				}
				got = append(got, string(p))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if rr.corrupt != tt.wantCorrupt || rr.torn != tt.wantTorn {
				t.Errorf("corrupt, torn = %d, %v; want %d, %v", rr.corrupt, rr.torn, tt.wantCorrupt, tt.wantTorn)
			}
			if rr.off != int64(len(tt.in)) {
				t.Errorf("off = %d, want the whole input, %d", rr.off, len(tt.in))
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, []byte(`{"specversion":"1.0","id":"a"}`)))
	f.Add([]byte("00000000 \n"))
	f.Add([]byte("deadbeef x"))
	f.Add([]byte("DEADBEEF x\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		payload, err := decodeRecord(line)
		if err != nil {
			return
		}
		// Whatever decodes must be exactly what appendRecord writes.
		want := bytes.TrimSuffix(line, []byte{'\n'})
		if got := appendRecord(nil, payload); !bytes.Equal(bytes.TrimSuffix(got, []byte{'\n'}), want) {
			t.Fatalf("decodeRecord(%q) = %q, which encodes as %q", line, payload, got)
		}
		if bytes.IndexByte(payload, '\n') >= 0 {
			t.Fatalf("decodeRecord(%q) returned a payload with a newline", line)
		}
	})
}

func FuzzRecordReader(f *testing.F) {
	a := appendRecord(nil, []byte(`{"id":"a"}`))
	b := appendRecord(nil, []byte(`{"id":"b"}`))
	f.Add(append(bytes.Clone(a), b...))
	f.Add(append(bytes.Clone(a), b[:7]...))
	f.Add([]byte("\n\n\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rr := newRecordReader(bytes.NewReader(in), nil)
		var rebuilt []byte
		for {
			p, err := rr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("next() error = %v", err)
			}
			rebuilt = appendRecord(rebuilt, p)
			if !bytes.Contains(in, appendRecord(nil, p)) {
				t.Fatalf("record %q is not in the input", p)
			}
		}
		if rr.off != int64(len(in)) {
			t.Fatalf("off = %d, want %d", rr.off, len(in))
		}
		// A clean spool reads back exactly.
		rr2 := newRecordReader(bytes.NewReader(rebuilt), nil)
		var again []byte
		for {
			p, err := rr2.next()
			if err != nil {
				break
			}
			again = appendRecord(again, p)
		}
		if !bytes.Equal(again, rebuilt) || rr2.corrupt != 0 || rr2.torn {
			t.Fatalf("re-reading good records: got %q (corrupt %d, torn %v), want %q", again, rr2.corrupt, rr2.torn, rebuilt)
		}
	})
}
