package jwt

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jwtv5 "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/config"
)

func TestParseJWKS(t *testing.T) {
	testKeys(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(m map[string]any, kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	rsaJWK := jwkJSON(&rsaIdP.PublicKey, "rsa", "RS256")
	ecJWK := jwkJSON(&ecIdP.PublicKey, "ec", "ES256")
	edJWK := jwkJSON(edIdP.Public(), "ed", "EdDSA")
	y := ecJWK["y"].(string)
	flipped := []byte(y)
	flipped[3] ^= 1

	tests := []struct {
		name        string
		keys        []map[string]any
		wantKids    []string
		wantSkipped int
		wantErr     string
	}{
		{"rsa ec okp", []map[string]any{rsaJWK, ecJWK, edJWK}, []string{"rsa", "ec", "ed"}, 0, ""},
		{"no alg, no use", []map[string]any{edit(rsaJWK, "alg", nil, "use", nil)}, []string{"rsa"}, 0, ""},
		{"P-384", []map[string]any{jwkJSON(&ecP384.PublicKey, "p384", "ES384")}, []string{"p384"}, 0, ""},
		{"padded base64", []map[string]any{edit(rsaJWK, "e", "AQAB=")}, []string{"rsa"}, 0, ""},
		{"symmetric key skipped", []map[string]any{rsaJWK, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}}, []string{"rsa"}, 1, ""},
		{"encryption key skipped", []map[string]any{rsaJWK, edit(ecJWK, "use", "enc")}, []string{"rsa"}, 1, ""},
		{"key_ops without verify skipped", []map[string]any{edit(rsaJWK, "key_ops", []string{"encrypt"}), ecJWK}, []string{"ec"}, 1, ""},
		{"key_ops with verify", []map[string]any{edit(rsaJWK, "key_ops", []string{"verify"})}, []string{"rsa"}, 0, ""},
		{"weak RSA skipped", []map[string]any{jwkJSON(&weak.PublicKey, "weak", "RS256"), ecJWK}, []string{"ec"}, 1, ""},
		{"even exponent skipped", []map[string]any{edit(rsaJWK, "e", "Ag"), ecJWK}, []string{"ec"}, 1, ""},
		{"off-curve point skipped", []map[string]any{edit(ecJWK, "y", string(flipped)), rsaJWK}, []string{"rsa"}, 1, ""},
		{"short coordinate skipped", []map[string]any{edit(ecJWK, "x", base64.RawURLEncoding.EncodeToString(make([]byte, 31))), rsaJWK}, []string{"rsa"}, 1, ""},
		{"alg for another kty skipped", []map[string]any{edit(ecJWK, "alg", "RS256"), rsaJWK}, []string{"rsa"}, 1, ""},
		{"alg for another curve skipped", []map[string]any{edit(ecJWK, "alg", "ES384"), rsaJWK}, []string{"rsa"}, 1, ""},
		{"HMAC alg skipped", []map[string]any{edit(rsaJWK, "alg", "HS256"), ecJWK}, []string{"ec"}, 1, ""},
		{"unknown curve skipped", []map[string]any{edit(edJWK, "crv", "Ed448"), rsaJWK}, []string{"rsa"}, 1, ""},
		{"not an object skipped", []map[string]any{rsaJWK, {"kty": []int{1}}}, []string{"rsa"}, 1, ""},
		{"no usable key", []map[string]any{{"kty": "oct", "k": "c2VjcmV0"}}, nil, 0, "no usable signature key"},
		{"empty", nil, nil, 0, "no usable signature key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(map[string]any{"keys": tt.keys})
			if err != nil {
				t.Fatal(err)
			}
			set, skipped, err := parseJWKS(b)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseJWKS() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS() error = %v", err)
			}
			var kids []string
			for _, k := range set.keys {
				kids = append(kids, k.kid)
			}
			if strings.Join(kids, ",") != strings.Join(tt.wantKids, ",") || len(skipped) != tt.wantSkipped {
				t.Errorf("parseJWKS() kids = %v, skipped %d; want %v, %d", kids, len(skipped), tt.wantKids, tt.wantSkipped)
			}
		})
	}
	if _, _, err := parseJWKS([]byte(`{"keys": {}}`)); err == nil {
		t.Errorf("parseJWKS(keys not an array) succeeded")
	}
}

// TestCurveMustFitAlg guards against verifying ES256 with a P-384 key: the
// signing library checks only the signature's length.
func TestCurveMustFitAlg(t *testing.T) {
	testKeys(t)
	set := &keySet{keys: []publicKey{{kid: "p384", key: &ecP384.PublicKey}}}
	if key, known := set.lookup("p384", true, "ES256"); key != nil || !known {
		t.Errorf("lookup(P-384 key, ES256) = %v, %v, want no key, known kid", key, known)
	}
	if key, _ := set.lookup("p384", true, "ES384"); key == nil {
		t.Errorf("lookup(P-384 key, ES384) found no key")
	}
}

func TestPublicKeyFile(t *testing.T) {
	testKeys(t)
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cert := selfSigned(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(rsaIdP)
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock()
	now := clock.Now()
	rsTok := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "whatever"}, claimsAt(now))
	esTok := sign(t, jwtv5.SigningMethodES256, ecIdP, nil, claimsAt(now))
	edTok := sign(t, jwtv5.SigningMethodEdDSA, edIdP, nil, claimsAt(now))

	tests := []struct {
		name    string
		path    string
		algs    []string
		token   string
		wantErr string // from New
	}{
		{"PUBLIC KEY rsa", write("rsa.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &rsaIdP.PublicKey)}), []string{"RS256"}, rsTok, ""},
		{"RSA PUBLIC KEY", write("pkcs1.pem", &pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaIdP.PublicKey)}), []string{"RS256"}, rsTok, ""},
		{"CERTIFICATE", write("cert.pem", &pem.Block{Type: "CERTIFICATE", Bytes: cert}), []string{"ES256"}, esTok, ""},
		{"Ed25519", write("ed.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, edIdP.Public())}), []string{"EdDSA"}, edTok, ""},
		{"private key", write("priv.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), []string{"RS256"}, "", "give the public key or certificate only"},
		{"weak RSA", write("weak.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &weak.PublicKey)}), []string{"RS256"}, "", "1024 bits"},
		{"not PEM", write("garbage.pem"), []string{"RS256"}, "", "no PEM block"},
		{"other block", write("params.pem", &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8}}), []string{"ES256"}, "", "unsupported PEM block"},
		{"missing", filepath.Join(dir, "absent.pem"), []string{"RS256"}, "", "reading public key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.JWT{Name: "file", PublicKeyFile: tt.path, Algorithms: tt.algs, ConsumerClaim: "sub", Issuer: "https://id.example.com/"}
			p, err := buildStarted(t.Context(), cfg, nil, Options{Now: clock.Now, Logger: quietLogger()})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("buildStarted() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("buildStarted() error = %v", err)
			}
			defer p.Close()
			if _, _, ok, err := p.Authenticate(bearerRequest(tt.token)); !ok {
				t.Errorf("Authenticate() = %v", err)
			}
			other := sign(t, jwtv5.SigningMethodRS256, rsaEvil, nil, claimsAt(now))
			if _, _, ok, err := p.Authenticate(bearerRequest(other)); ok || !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Authenticate(token of another key) = %v, %v", ok, err)
			}
		})
	}
}

func selfSigned(tb testing.TB) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "id.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecIdP.PublicKey, ecIdP)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
