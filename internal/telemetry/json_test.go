package telemetry

import (
	"testing"
	"time"
)

func TestRedactQuery(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"url in error", `Get "http://127.0.0.1:9101/users?api_key=s3cret&x=1": dial tcp: refused`,
			`Get \"http://127.0.0.1:9101/users?\": dial tcp: refused`},
		{"bare url", "http://h/p?token=abc more", "http://h/p? more"},
		{"query at end", "http://h/p?k=v", "http://h/p?"},
		{"question in prose", "is it down? yes", "is it down? yes"},
		{"trailing question", "down?", "down?"},
		{"no query", "upstream timeout", "upstream timeout"},
		{"escapes still apply", "bad\n\"x\"?a=b c", `bad\n\"x\"? c`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendJSONStringBody(nil, tt.in, true)); got != tt.want {
				t.Errorf("appendJSONStringBody(%q, redact) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestAppendMillis(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0.000"},
		{999 * time.Nanosecond, "0.000"},
		{time.Microsecond, "0.001"},
		{1234567 * time.Nanosecond, "1.234"},
		{50 * time.Millisecond, "50.000"},
		{2*time.Second + 5*time.Microsecond, "2000.005"},
		{-time.Second, "0.000"},
	}
	for _, tt := range tests {
		if got := string(appendMillis(nil, tt.in)); got != tt.want {
			t.Errorf("appendMillis(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},   // é is 2 bytes: no half rune.
		{"a😀", 4, "a"},   // 😀 is 4 bytes.
		{"a😀b", 5, "a😀"}, // Cut right after the rune.
		{"\x80\x80\x80\x80\x80\x80", 3, "\x80\x80\x80"}, // Invalid input: still at most n.
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if len(got) > tt.n {
			t.Errorf("truncate(%q, %d) is %d bytes long", tt.in, tt.n, len(got))
		}
	}
}

// appendTime writes what time.RFC3339Nano does, also across seconds and
// in other zones (the cached second must not leak into the next).
func TestAppendTime(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	for _, tt := range []time.Time{
		time.Date(2026, 12, 6, 17, 4, 54, 905842212, time.UTC),
		time.Date(2026, 12, 6, 17, 4, 54, 905842200, time.UTC),
		time.Date(2026, 12, 6, 17, 4, 54, 0, time.UTC),
		time.Date(2026, 12, 6, 17, 4, 55, 1, time.UTC),
		time.Date(2026, 12, 6, 18, 4, 55, 500000000, berlin),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 12, 6, 17, 4, 54, 100, time.UTC),
	} {
		want := tt.UTC().AppendFormat(nil, time.RFC3339Nano)
		if got := appendTime([]byte("x"), tt); string(got) != "x"+string(want) {
			t.Errorf("appendTime(%v) = %q, want %q", tt, got[1:], want)
		}
	}
}

func FuzzAppendTime(f *testing.F) {
	f.Add(int64(1796576694), int64(905842212))
	f.Add(int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tt := time.Unix(sec%(1<<36), nsec)
		want := tt.UTC().AppendFormat(nil, time.RFC3339Nano)
		if got := appendTime(nil, tt); string(got) != string(want) {
			t.Fatalf("appendTime(%v) = %q, want %q", tt, got, want)
		}
	})
}
