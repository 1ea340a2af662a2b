package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// RFC 7518, section 3.3: RSA keys of 2048 bits or more. The upper bound
// keeps one verification from costing more than a few hundred microseconds.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// publicKey is one parsed verification key. kid and alg are "" when the
// source does not name them.
type publicKey struct {
	kid string
	alg string
	key crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// keySet is an immutable set of verification keys, swapped as a whole when
// a JWKS is refetched so that a removed key stops working at once.
type keySet struct {
	keys []publicKey
}

// algFamily is the key type an algorithm needs.
type algFamily int

const (
	familyNone algFamily = iota
	familyHMAC
	familyRSA
	familyEC
	familyEd25519
)

func familyOf(alg string) algFamily {
	switch alg {
	case "HS256", "HS384", "HS512":
		return familyHMAC
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return familyRSA
	case "ES256", "ES384", "ES512":
		return familyEC
	case "EdDSA":
		return familyEd25519
	}
	return familyNone
}

// fits reports whether k may verify a signature made with alg. ECDSA keys
// must be on the algorithm's own curve: the signing library checks only
// the signature length, so a P-384 key would otherwise verify ES256.
func (k *publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pk := k.key.(type) {
	case *rsa.PublicKey:
		return familyOf(alg) == familyRSA
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pk.Curve == elliptic.P256()
		case "ES384":
			return pk.Curve == elliptic.P384()
		case "ES512":
			return pk.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// lookup finds the key for a token's kid and alg. known reports whether the
// set has any key with that kid, so that only a truly unknown kid triggers
// a refetch. A token without kid is verified only when exactly one key fits
// its alg: trying several keys would let one weak key stand for all.
func (s *keySet) lookup(kid string, hasKid bool, alg string) (key crypto.PublicKey, known bool) {
	if s == nil {
		return nil, false
	}
	if hasKid {
		for i := range s.keys {
			k := &s.keys[i]
			if k.kid != kid {
				continue
			}
			known = true
			if k.fits(alg) {
				return k.key, true
			}
		}
		return nil, known
	}
	var found crypto.PublicKey
	n := 0
	for i := range s.keys {
		if s.keys[i].fits(alg) {
			found = s.keys[i].key
			n++
		}
	}
	if n == 1 {
		return found, true
	}
	// A set with several fitting keys is not stale: refetching would not
	// help a token that names none of them.
	return nil, n > 1
}

// loadPEM reads the first PEM block of a PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE file. Private keys are refused: a verifier has no use for
// them and they should not sit in a gateway's config.
func loadPEM(path string) (*keySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading public key file: %w", err)
	}
	k, err := parsePEM(b)
	if err != nil {
		return nil, fmt.Errorf("public key file %s: %w", path, err)
	}
	return &keySet{keys: []publicKey{{key: k}}}, nil
}

func parsePEM(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE")
	}
	var (
		pub any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, fmt.Errorf("holds a %s: give the public key or certificate only", block.Type)
		}
		return nil, fmt.Errorf("unsupported PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	return checkPublic(pub)
}

// checkPublic accepts the key types a JWS can be verified with, and RSA
// keys of a sound size only.
func checkPublic(pub any) (crypto.PublicKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits || n > maxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: want %d to %d (RFC 7518, section 3.3)", n, minRSABits, maxRSABits)
		}
		return k, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, fmt.Errorf("unsupported curve %s: want P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T: want RSA, ECDSA or Ed25519", pub)
}
