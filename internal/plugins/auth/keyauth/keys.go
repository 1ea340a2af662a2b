package keyauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
)

// Key format. A generated key is KeyPrefix followed by the unpadded
// base64url encoding of keyBytes random bytes: 32 characters, 192 bits.
// base64url needs no escaping in headers or query strings.
const (
	keyPrefix = "gk_"
	keyBytes  = 24
	// prefixLen is how many characters after KeyPrefix are kept in
	// APIKey.Prefix for display. They are not secret, which leaves
	// 192-48 = 144 secret bits, still above the 128 the contract asks for.
	prefixLen = 8
	// hashScheme is how config files spell a key given by its hash.
	hashScheme = "sha256:"
)

// idEncoding spells key IDs in lowercase base32 so that they read well in
// URLs (DELETE /admin/consumers/{id}/keys/{key_id}) and logs.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Generate returns a new random API key and its storable form: ID
// ("key_" and 12 base32 characters), Prefix (the PrefixLen characters after
// "gk_"), Hash (SHA-256 of the plaintext) and Source "api". The caller sets
// ConsumerID before store.CreateKey, shows plaintext once and then forgets
// it. It fails only when the system's random source does.
func Generate() (plaintext string, k store.APIKey, err error) {
	var b [keyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", store.APIKey{}, fmt.Errorf("generating api key: %w", err)
	}
	id, err := newID()
	if err != nil {
		return "", store.APIKey{}, err
	}
	plaintext = keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	k = store.APIKey{
		ID:     id,
		Prefix: plaintext[len(keyPrefix) : len(keyPrefix)+prefixLen],
		Hash:   hash(plaintext),
		Source: store.SourceAPI,
	}
	return plaintext, k, nil
}

// newID returns "key_" and 12 base32 characters (60 random bits): short
// enough to type, and collisions are caught by the store's primary key.
func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating key id: %w", err)
	}
	return "key_" + idEncoding.EncodeToString(b[:])[:12], nil
}

// hash returns the SHA-256 digest of plaintext, the form keys are stored and
// looked up in. A fast unsalted hash is enough for keys of 128 bits or more:
// there is nothing to guess a dictionary against.
func hash(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// ErrBadHash is returned by ParseConfigHash for a malformed value.
var ErrBadHash = errors.New(`want "sha256:" followed by 64 hex digits`)

// parseConfigHash decodes a config file's key hash, "sha256:" and 64 hex
// digits of either case, into the 32-byte digest.
func parseConfigHash(s string) ([]byte, error) {
	hx, ok := strings.CutPrefix(s, hashScheme)
	if !ok || len(hx) != 2*sha256.Size {
		return nil, ErrBadHash
	}
	b, err := hex.DecodeString(hx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadHash, err)
	}
	return b, nil
}

// ConfigConsumers converts the config file's consumers into the rows
// store.SyncConfig expects, Source "config". Plaintext keys are hashed here
// and dropped. Key IDs are derived from the hash ("cfg_" and 16 hex digits)
// so that a reload keeps the same IDs, and Prefix stays empty: a key the
// operator chose may be short, and every character shown would be one less
// to guess.
func ConfigConsumers(cs []*config.Consumer) ([]store.Consumer, []store.APIKey, error) {
	consumers := make([]store.Consumer, 0, len(cs))
	var keys []store.APIKey
	var errs []error
	for i, c := range cs {
		if c == nil {
			continue
		}
		consumers = append(consumers, store.Consumer{
			ID:     c.ID,
			Plan:   c.Plan,
			Groups: slices.Clone(c.Groups),
			Source: store.SourceConfig,
		})
		for j, ck := range c.APIKeys {
			var h []byte
			switch {
			case ck.Key != "" && ck.Hash == "":
				h = hash(ck.Key)
			case ck.Hash != "" && ck.Key == "":
				var err error
				if h, err = parseConfigHash(ck.Hash); err != nil {
					errs = append(errs, fmt.Errorf("consumers[%d].api_keys[%d].hash: %w", i, j, err))
					continue
				}
			default:
				errs = append(errs, fmt.Errorf("consumers[%d].api_keys[%d]: set exactly one of hash or key", i, j))
				continue
			}
			keys = append(keys, store.APIKey{
				ID:         "cfg_" + hex.EncodeToString(h[:8]),
				ConsumerID: c.ID,
				Hash:       h,
				Source:     store.SourceConfig,
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return consumers, keys, nil
}
