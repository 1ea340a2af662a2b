package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// maxKeys caps the keys of one JWKS. Identity providers publish a handful;
// hundreds mean a wrong URL or an attempt to make every lookup slow.
const maxKeys = 100

// jwk holds the members of RFC 7517 (JWK) and RFC 7518, section 6 (key
// parameters) that a verifier needs. Private members (d, p, q, ...) and
// certificate members (x5c, x5u) are not read: n/e and x/y are
// authoritative, and nothing is ever fetched on a key's say-so.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// skippedKey is a key of a JWK Set that parseJWKS left out: its position
// in the set, its kid ("" when it has none) and why.
type skippedKey struct {
	index  int
	kid    string
	reason string
}

// parseJWKS parses a JWK Set. Keys that cannot be used to verify
// signatures (encryption keys, symmetric "oct" keys, unknown types or
// curves, weak RSA, malformed members) are skipped and returned with the
// reason, so one odd key does not take the others down; a set with no
// usable key at all is an error, and the caller keeps its previous keys.
func parseJWKS(b []byte) (set *keySet, skipped []skippedKey, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("decoding jwks: %w", err)
	}
	if len(doc.Keys) > maxKeys {
		return nil, nil, fmt.Errorf("jwks has %d keys, more than %d", len(doc.Keys), maxKeys)
	}
	set = &keySet{keys: make([]publicKey, 0, len(doc.Keys))}
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			// The kid, if one can be read at all.
			var named struct {
				Kid string `json:"kid"`
			}
			_ = json.Unmarshal(raw, &named)
			skipped = append(skipped, skippedKey{index: i, kid: named.Kid, reason: "not a valid JWK: " + err.Error()})
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			skipped = append(skipped, skippedKey{index: i, kid: k.Kid, reason: err.Error()})
			continue
		}
		set.keys = append(set.keys, pk)
	}
	if len(set.keys) == 0 {
		return nil, skipped, fmt.Errorf("jwks has no usable signature key (%d skipped)", len(skipped))
	}
	return set, skipped, nil
}

var errNotForSigning = errors.New("key is not for signature verification")

// publicKey converts one JWK into a verification key.
func (k *jwk) publicKey() (publicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return publicKey{}, fmt.Errorf("%w: use %q, not \"sig\"", errNotForSigning, k.Use)
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return publicKey{}, fmt.Errorf("%w: key_ops %q without \"verify\"", errNotForSigning, k.KeyOps)
	}
	if k.Alg != "" && familyOf(k.Alg) == familyNone {
		return publicKey{}, fmt.Errorf("unsupported alg %q", k.Alg)
	}
	pk := publicKey{kid: k.Kid, alg: k.Alg}
	var err error
	switch k.Kty {
	case "RSA":
		pk.key, err = k.rsa()
	case "EC":
		pk.key, err = k.ec()
	case "OKP":
		pk.key, err = k.okp()
	default:
		// "oct" above all: a symmetric key published in a JWKS must never
		// become an HMAC key, or anyone reading the set could sign tokens.
		return publicKey{}, fmt.Errorf("unsupported kty %q", k.Kty)
	}
	if err != nil {
		return publicKey{}, err
	}
	if pk.alg != "" && !pk.fits(pk.alg) {
		return publicKey{}, fmt.Errorf("alg %s does not fit a %s key", pk.alg, k.Kty)
	}
	return pk, nil
}

func (k *jwk) rsa() (*rsa.PublicKey, error) {
	n, err := b64(k.N)
	if err != nil || len(n) == 0 || n[0] == 0 {
		return nil, errors.New("invalid RSA modulus")
	}
	e, err := b64(k.E)
	// RFC 7518, section 6.3.1.2: the exponent in minimal big-endian form;
	// four bytes is plenty (65537 takes three) and keeps it an int.
	if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
		return nil, errors.New("invalid RSA exponent")
	}
	exp := 0
	for _, c := range e {
		exp = exp<<8 | int(c)
	}
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("invalid RSA exponent")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if _, err := checkPublic(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

func (k *jwk) ec() (*ecdsa.PublicKey, error) {
	var (
		curve elliptic.Curve
		size  int
	)
	switch k.Crv {
	case "P-256":
		curve, size = elliptic.P256(), 32
	case "P-384":
		curve, size = elliptic.P384(), 48
	case "P-521":
		curve, size = elliptic.P521(), 66
	default:
		return nil, fmt.Errorf("unsupported EC curve %q", k.Crv)
	}
	x, errX := b64(k.X)
	y, errY := b64(k.Y)
	// RFC 7518, section 6.2.1.2: coordinates are the full size of the
	// curve's field, leading zeros included.
	if errX != nil || errY != nil || len(x) != size || len(y) != size {
		return nil, errors.New("invalid EC coordinates")
	}
	point := make([]byte, 0, 1+2*size)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	// Checks that the point is on the curve: an off-curve key is a classic
	// invalid-curve attack vector.
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("invalid EC point: %w", err)
	}
	return pub, nil
}

func (k *jwk) okp() (ed25519.PublicKey, error) {
	if k.Crv != "Ed25519" {
		return nil, fmt.Errorf("unsupported OKP curve %q", k.Crv)
	}
	x, err := b64(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("invalid Ed25519 key")
	}
	return ed25519.PublicKey(x), nil
}

// b64 decodes base64url without padding (RFC 7515, section 2), tolerating
// the padding some providers add anyway.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
