package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDurationYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		want    Duration
		wantErr string
	}{
		{name: "milliseconds", yaml: `250ms`, want: Duration(250 * time.Millisecond)},
		{name: "compound", yaml: `1h30m`, want: Duration(90 * time.Minute)},
		{name: "quoted", yaml: `"2s"`, want: Duration(2 * time.Second)},
		{name: "integer zero", yaml: `0`, want: 0},
		{name: "string zero", yaml: `"0"`, want: 0},
		{name: "integer without unit", yaml: `30`, wantErr: `a duration needs a unit, like "30s"`},
		{name: "negative", yaml: `-5s`, wantErr: "must not be negative"},
		{name: "garbage", yaml: `soon`, wantErr: `invalid duration "soon"`},
		{name: "list", yaml: `[1s]`, wantErr: "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Duration
			err := yaml.Unmarshal([]byte(tt.yaml), &got)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{250 * time.Millisecond, "250ms"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{24 * time.Hour, "24h"},
	}
	for _, tt := range tests {
		d := Duration(tt.d)
		if got := d.String(); got != tt.want {
			t.Errorf("Duration(%d).String() = %q, want %q", tt.d, got, tt.want)
		}
		back, err := parseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", d.String(), back, err, d)
		}
	}
}

func TestSizeParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "64KiB", want: 64 << 10},
		{in: "10MiB", want: 10 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "512KB", want: 512_000},
		{in: "3MB", want: 3_000_000},
		{in: "2GB", want: 2_000_000_000},
		{in: "100B", want: 100},
		{in: "1 MiB", want: 1 << 20},
		{in: "4096", want: 4096},
		{in: "0", want: 0},
		{in: "-1", wantErr: "must not be negative"},
		{in: "-1KiB", wantErr: "must not be negative"},
		{in: "1.5MiB", wantErr: "want whole bytes"},
		{in: "10mb", wantErr: "want whole bytes"},
		{in: "KiB", wantErr: "want whole bytes"},
		{in: "", wantErr: "want whole bytes"},
		{in: "9999999999GiB", wantErr: "too large"},
		{in: "99999999999999999999", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseSize(tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestSizeRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    Size
		want string
	}{
		{0, "0"},
		{1500, "1500"},
		{64 << 10, "64KiB"},
		{10 << 20, "10MiB"},
		{1 << 30, "1GiB"},
		{1536 << 10, "1536KiB"},
		{1_000_000, "1MB"},
		{5000, "5KB"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", tt.s, got, tt.want)
		}
		b, err := json.Marshal(tt.s)
		if err != nil {
			t.Fatalf("json.Marshal(%d): %v", tt.s, err)
		}
		var back Size
		if err := json.Unmarshal(b, &back); err != nil || back != tt.s {
			t.Errorf("json round trip of %d via %s = %d, %v", tt.s, b, back, err)
		}
		y, err := yaml.Marshal(tt.s)
		if err != nil {
			t.Fatalf("yaml.Marshal(%d): %v", tt.s, err)
		}
		if err := yaml.Unmarshal(y, &back); err != nil || back != tt.s {
			t.Errorf("yaml round trip of %d via %q = %d, %v", tt.s, y, back, err)
		}
	}
	var n Size
	if err := json.Unmarshal([]byte(`2048`), &n); err != nil || n != 2048 {
		t.Errorf("json.Unmarshal(2048) = %d, %v; want 2048", n, err)
	}
}

func TestDurationJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []Duration{0, Duration(50 * time.Millisecond), Duration(90 * time.Second), Duration(24 * time.Hour)} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("json.Marshal(%v): %v", d, err)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Errorf("json round trip of %v via %s = %v, %v", d, b, back, err)
		}
		y, err := yaml.Marshal(d)
		if err != nil {
			t.Fatalf("yaml.Marshal(%v): %v", d, err)
		}
		if err := yaml.Unmarshal(y, &back); err != nil || back != d {
			t.Errorf("yaml round trip of %v via %q = %v, %v", d, y, back, err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"-1s"`), &d); err == nil {
		t.Error(`json.Unmarshal("-1s") succeeded, want an error`)
	}
}

func TestDecimalYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		yaml       string
		want       Decimal
		wantMicros int64
		wantErr    string
	}{
		{yaml: `49.00`, want: "49.00", wantMicros: 49_000_000},
		{yaml: `"49.00"`, want: "49.00", wantMicros: 49_000_000},
		{yaml: `0.5`, want: "0.5", wantMicros: 500_000},
		{yaml: `.5`, want: "0.5", wantMicros: 500_000},
		{yaml: `0.02`, want: "0.02", wantMicros: 20_000},
		{yaml: `007`, want: "7", wantMicros: 7_000_000},
		{yaml: `0`, want: "0", wantMicros: 0},
		{yaml: `0.000001`, want: "0.000001", wantMicros: 1},
		{yaml: `0.0000001`, wantErr: "at most 6 digits"},
		{yaml: `-1.00`, wantErr: "must not be negative"},
		{yaml: `1e3`, wantErr: "want a plain decimal"},
		{yaml: `.inf`, wantErr: "want a plain decimal"},
		{yaml: `"1."`, wantErr: "want a plain decimal"},
		{yaml: `"1,50"`, wantErr: "want a plain decimal"},
		{yaml: `1234567890123.0`, wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			t.Parallel()
			var got Decimal
			err := yaml.Unmarshal([]byte(tt.yaml), &got)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			if got != tt.want {
				t.Errorf("Decimal = %q, want %q", got, tt.want)
			}
			if m := got.Micros(); m != tt.wantMicros {
				t.Errorf("Decimal(%q).Micros() = %d, want %d", got, m, tt.wantMicros)
			}
		})
	}
}

// checkErr fails t unless err matches wantErr: nil for "", else an error
// containing wantErr.
func checkErr(t *testing.T, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("no error, want one containing %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("error %q, want one containing %q", err, wantErr)
	}
}
