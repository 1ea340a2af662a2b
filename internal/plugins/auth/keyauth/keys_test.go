package keyauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/bits"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/google/go-cmp/cmp"
)

var (
	keyRe = regexp.MustCompile(`^gk_[A-Za-z0-9_-]{32}$`)
	idRe  = regexp.MustCompile(`^key_[a-z2-7]{12}$`)
)

func TestGenerateFormat(t *testing.T) {
	t.Parallel()
	plain, k, err := Generate()
	if err != nil {
		t.Fatalf("Generate() error = %v", err)
	}
	if !keyRe.MatchString(plain) {
		t.Errorf("Generate() key does not match %s (len %d)", keyRe, len(plain))
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(plain, keyPrefix))
	if err != nil || len(raw) != keyBytes {
		t.Errorf("key body decodes to %d bytes (err %v), want %d", len(raw), err, keyBytes)
	}
	if !idRe.MatchString(k.ID) {
		t.Errorf("ID = %q, want match %s", k.ID, idRe)
	}
	if want := plain[3:11]; k.Prefix != want {
		t.Errorf("Prefix = %q, want %q", k.Prefix, want)
	}
	sum := sha256.Sum256([]byte(plain))
	if !bytes.Equal(k.Hash, sum[:]) {
		t.Errorf("Hash = %x, want sha256 of the key", k.Hash)
	}
	if !bytes.Equal(hash(plain), sum[:]) {
		t.Errorf("Hash(key) differs from sha256")
	}
	if k.Source != store.SourceAPI || k.ConsumerID != "" || k.RevokedAt != nil {
		t.Errorf("Generate() key = %+v, want Source api and nothing else set", k)
	}
}

func TestGenerateUnique(t *testing.T) {
	t.Parallel()
	const n = 20000
	keys := make(map[string]bool, n)
	ids := make(map[string]bool, n)
	prefixes := make(map[string]bool, n)
	for range n {
		plain, k, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if keys[plain] || ids[k.ID] {
			t.Fatalf("duplicate key or ID after %d keys", len(keys))
		}
		keys[plain], ids[k.ID], prefixes[k.Prefix] = true, true, true
	}
	// 48 random bits: among 20000 prefixes a collision has odds ~1e-6.
	if len(prefixes) < n-1 {
		t.Errorf("%d distinct prefixes among %d keys", len(prefixes), n)
	}
}

// TestGenerateEntropy checks every one of the 192 bits is a fair coin: a
// key generator with a stuck or biased bit fails by many standard
// deviations.
func TestGenerateEntropy(t *testing.T) {
	t.Parallel()
	const n = 2000
	var ones [keyBytes * 8]int
	for range n {
		plain, _, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(plain[len(keyPrefix):])
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range raw {
			for j := range 8 {
				ones[i*8+j] += int(b >> j & 1)
			}
		}
	}
	// Mean 1000, standard deviation ~22: ±200 is 9 sigma.
	for i, c := range ones {
		if c < n/2-200 || c > n/2+200 {
			t.Errorf("bit %d set in %d of %d keys", i, c, n)
		}
	}
	// And whole keys differ from each other in about half their bits.
	a, _, _ := Generate()
	b, _, _ := Generate()
	ra, _ := base64.RawURLEncoding.DecodeString(a[3:])
	rb, _ := base64.RawURLEncoding.DecodeString(b[3:])
	diff := 0
	for i := range ra {
		diff += bits.OnesCount8(ra[i] ^ rb[i])
	}
	if diff < 40 || diff > 152 {
		t.Errorf("two keys differ in %d of 192 bits", diff)
	}
}

func TestParseConfigHash(t *testing.T) {
	t.Parallel()
	const hx = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	want, _ := hex.DecodeString(hx)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"lower hex", "sha256:" + hx, true},
		{"upper hex", "sha256:" + strings.ToUpper(hx), true},
		{"no scheme", hx, false},
		{"upper scheme", "SHA256:" + hx, false},
		{"other scheme", "sha512:" + hx, false},
		{"short", "sha256:" + hx[:62], false},
		{"long", "sha256:" + hx + "0", false},
		{"not hex", "sha256:" + hx[:63] + "g", false},
		{"space", "sha256: " + hx[:63], false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseConfigHash(tt.in)
			if !tt.ok {
				if err == nil || !errors.Is(err, ErrBadHash) {
					t.Errorf("ParseConfigHash(%q) error = %v, want ErrBadHash", tt.in, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("ParseConfigHash(%q) = %x, %v; want %x", tt.in, got, err, want)
			}
		})
	}
}

func TestConfigConsumers(t *testing.T) {
	t.Parallel()
	const plain = "acme-second-key-0123456789"
	in := []*config.Consumer{
		{ID: "acme", Plan: "pro", Groups: []string{"partners"}, APIKeys: []config.APIKey{
			{Hash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
			{Key: plain},
		}},
		{ID: "globex"},
	}
	cons, keys, err := ConfigConsumers(in)
	if err != nil {
		t.Fatalf("ConfigConsumers() error = %v", err)
	}
	wantCons := []store.Consumer{
		{ID: "acme", Plan: "pro", Groups: []string{"partners"}, Source: store.SourceConfig},
		{ID: "globex", Source: store.SourceConfig},
	}
	if d := cmp.Diff(wantCons, cons); d != "" {
		t.Errorf("consumers (-want +got):\n%s", d)
	}
	test, _ := hex.DecodeString("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	wantKeys := []store.APIKey{
		{ID: "cfg_9f86d081884c7d65", ConsumerID: "acme", Hash: test, Source: store.SourceConfig},
		{ID: "cfg_" + hex.EncodeToString(hash(plain)[:8]), ConsumerID: "acme", Hash: hash(plain), Source: store.SourceConfig},
	}
	if d := cmp.Diff(wantKeys, keys); d != "" {
		t.Errorf("keys (-want +got):\n%s", d)
	}
	in[0].Groups[0] = "changed"
	if cons[0].Groups[0] != "partners" {
		t.Error("ConfigConsumers shares the Groups slice with the config")
	}

	_, _, err = ConfigConsumers([]*config.Consumer{{ID: "bad", APIKeys: []config.APIKey{{Hash: "sha256:xyz"}, {}}}})
	if err == nil || !strings.Contains(err.Error(), "consumers[0].api_keys[0].hash") || !strings.Contains(err.Error(), "api_keys[1]") {
		t.Errorf("ConfigConsumers(bad) error = %v, want both keys named", err)
	}
}
