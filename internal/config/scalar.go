package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a Go-style duration string ("250ms", "2s", "1m", "24h"). The
// integer 0 is accepted too; negative durations are not.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d in Go syntax without zero trailing units: "1m", "1h30m",
// "250ms".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// parseDuration parses a non-negative Go duration ("250ms", "1h30m") or "0".
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit (ms, s, m, h) like \"250ms\", \"2s\" or \"1m30s\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return Duration(v), nil
}

// UnmarshalYAML accepts a duration string or the integer 0.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a duration like \"250ms\", \"2s\" or \"1m\"")
	}
	if n.ShortTag() == "!!int" {
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil && i == 0 {
			*d = 0
			return nil
		}
		return fmt.Errorf("invalid duration %s: a duration needs a unit, like \"%ss\" or \"%sms\"", n.Value, n.Value, n.Value)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as its String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes d as a JSON string in its String form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts a duration string or the number 0.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "0" {
		*d = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a duration string like \"2s\"")
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Size is a byte count: plain bytes or a whole number with a unit. KiB, MiB,
// GiB and TiB are powers of 1024; KB, MB, GB and TB powers of 1000 ("64KiB",
// "10MiB", "512KB"). Negative sizes are not accepted.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longer suffixes first so "KiB" is not taken for "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseSize parses "64KiB", "10MiB", "512KB", "1024B" or plain "1024".
func parseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	if t == "" || strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("invalid size %q: must not be negative", s)
		}
		return 0, fmt.Errorf("invalid size %q: want whole bytes or a whole number with a unit (KiB, MiB, GiB, KB, MB, GB), like \"64KiB\" or \"10MiB\"", s)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n * mult), nil
}

// String formats s with the largest unit that divides it exactly, preferring
// binary units: 65536 -> "64KiB", 1000000 -> "1MB", 1500 -> "1500".
func (s Size) String() string {
	if s > 0 {
		// Largest binary unit first, then largest decimal unit.
		for _, i := range []int{3, 2, 1, 0, 7, 6, 5, 4} {
			if u := sizeUnits[i]; int64(s)%u.mult == 0 {
				return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalYAML accepts plain non-negative integers and strings with a unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a size like \"64KiB\", \"10MiB\" or a number of bytes")
	}
	v, err := parseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes s as its String form.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON writes s as a JSON string in its String form.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON accepts a size string or a number of bytes.
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		str = string(b)
	}
	v, err := parseSize(str)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Decimal is an exact non-negative decimal amount kept as its canonical
// string form ("49.00", "0.5"); money never passes through a float. At most
// 12 integer and 6 fractional digits. Trailing zeros are kept, so "49.00"
// prints as written.
type Decimal string

// decimalScale is the number of fractional digits a Decimal may have.
const decimalScale = 6

// parseDecimal checks and canonicalises s: leading zeros are dropped and a
// bare fraction gets its zero (".5" -> "0.5").
func parseDecimal(s string) (Decimal, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return "", fmt.Errorf("invalid amount %q: must not be negative", s)
	}
	t = strings.TrimPrefix(t, "+")
	intPart, frac, hasDot := strings.Cut(t, ".")
	if !digits(intPart) && intPart != "" || !digits(frac) && frac != "" || intPart == "" && frac == "" || hasDot && frac == "" {
		return "", fmt.Errorf("invalid amount %q: want a plain decimal number like \"49.00\" or \"0.5\"", s)
	}
	if len(frac) > decimalScale {
		return "", fmt.Errorf("invalid amount %q: at most %d digits after the point", s, decimalScale)
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 12 {
		return "", fmt.Errorf("invalid amount %q: too large", s)
	}
	if intPart == "" {
		intPart = "0"
	}
	if hasDot {
		return Decimal(intPart + "." + frac), nil
	}
	return Decimal(intPart), nil
}

// Micros returns d in millionths (49.5 -> 49500000). It returns 0 for an
// empty or invalid Decimal; Validate rejects those first.
func (d Decimal) Micros() int64 {
	v, err := parseDecimal(string(d))
	if err != nil {
		return 0
	}
	intPart, frac, _ := strings.Cut(string(v), ".")
	frac += strings.Repeat("0", decimalScale-len(frac))
	i, _ := strconv.ParseInt(intPart, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return i*1_000_000 + f
}

// UnmarshalYAML accepts a YAML number or a string holding one.
func (d *Decimal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want an amount like \"49.00\"")
	}
	v, err := parseDecimal(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
