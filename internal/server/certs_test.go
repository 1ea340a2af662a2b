package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// writePair writes a self-signed certificate for names (CN cn) and its
// key to dir/base.pem and dir/base-key.pem.
func writeCertPair(t testing.TB, dir, base, cn string, notAfter time.Time, names ...string) config.CertPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		DNSNames:     names,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := config.CertPair{CertFile: filepath.Join(dir, base+".pem"), KeyFile: filepath.Join(dir, base+"-key.pem")}
	if err := os.WriteFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCertStoreSNI(t *testing.T) {
	dir := t.TempDir()
	day := time.Now().Add(24 * time.Hour)
	api := writeCertPair(t, dir, "api", "api", day, "api.example.test")
	wild := writeCertPair(t, dir, "wild", "wild", day, "*.example.test")
	eu := writeCertPair(t, dir, "eu", "eu", day, "EU.Example.Test")
	st, _, ps := planTLS(&config.TLS{Certificates: []config.CertPair{api, wild, eu}}, slog.New(slog.DiscardHandler), time.Now())
	if ps != nil {
		t.Fatal(ps)
	}
	tests := []struct{ sni, want string }{
		{"api.example.test", "api"},
		{"API.example.test.", "api"},
		{"eu.example.test", "eu"},      // exact beats the wildcard
		{"shop.example.test", "wild"},  // one label under the wildcard
		{"a.shop.example.test", "api"}, // two labels: default
		{"example.test", "api"},        // the wildcard's parent: default
		{"", "api"},                    // no SNI: default
	}
	for _, tt := range tests {
		c, err := st.certs.get(&tls.ClientHelloInfo{ServerName: tt.sni})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Leaf.Subject.CommonName; got != tt.want {
			t.Errorf("get(%q) = %s, want %s", tt.sni, got, tt.want)
		}
	}
}

func TestCertStoreReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	day := time.Now().Add(24 * time.Hour)
	p := writeCertPair(t, dir, "api", "first", day, "api.example.test")
	now := time.Now()
	st, _, ps := planTLS(&config.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile}, slog.New(slog.DiscardHandler), now)
	if ps != nil {
		t.Fatal(ps)
	}
	st.certs.now = func() time.Time { return now }
	served := func() string {
		c, err := st.certs.get(&tls.ClientHelloInfo{ServerName: "api.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	// A half-written rotation (the key of another certificate) keeps the
	// previous certificate.
	other := writeCertPair(t, t.TempDir(), "other", "other", day, "api.example.test")
	b, _ := os.ReadFile(other.KeyFile)
	os.WriteFile(p.KeyFile, b, 0o600)
	now = now.Add(certCheckEvery)
	if got := served(); got != "first" {
		t.Fatalf("after a mismatched key: served %s, want first", got)
	}
	writeCertPair(t, dir, "api", "second", day, "api.example.test")
	now = now.Add(certCheckEvery / 2)
	if got := served(); got != "first" {
		t.Fatalf("within the check interval: served %s, want first", got)
	}
	now = now.Add(certCheckEvery / 2)
	if got := served(); got != "second" {
		t.Fatalf("after the check interval: served %s, want second", got)
	}
	// A config reload looks at the files at once.
	writeCertPair(t, dir, "api", "third", day, "api.example.test")
	if got := served(); got != "second" {
		t.Fatalf("within the check interval: served %s, want second", got)
	}
	st.certs.recheck()
	if got := served(); got != "third" {
		t.Fatalf("after recheck: served %s, want third", got)
	}
}

func TestPlanTLSExpiry(t *testing.T) {
	dir := t.TempDir()
	expired := writeCertPair(t, dir, "old", "old", time.Now().Add(-time.Minute), "old.example.test")
	soon := writeCertPair(t, dir, "soon", "soon", time.Now().Add(48*time.Hour), "soon.example.test")
	log := slog.New(slog.DiscardHandler)
	_, _, ps := planTLS(&config.TLS{Certificates: []config.CertPair{soon, expired}}, log, time.Now())
	if len(ps) != 1 || ps[0].Path != "server.tls.certificates[1].cert_file" || !strings.Contains(ps[0].Message, "expired") {
		t.Fatalf("problems = %v, want certificates[1].cert_file expired", ps)
	}
	_, warnings, ps := planTLS(&config.TLS{CertFile: soon.CertFile, KeyFile: soon.KeyFile}, log, time.Now())
	if ps != nil || len(warnings) != 1 || !strings.HasPrefix(warnings[0], "server.tls.cert_file: ") {
		t.Fatalf("problems %v, warnings %q; want one warning at server.tls.cert_file", ps, warnings)
	}
}

func TestClientCAsReloadChangedFile(t *testing.T) {
	dir := t.TempDir()
	day := time.Now().Add(24 * time.Hour)
	srv := writeCertPair(t, dir, "api", "api", day, "api.example.test")
	first := writeCertPair(t, dir, "ca-2026", "Partners CA 2026", day)
	second := writeCertPair(t, t.TempDir(), "ca-2027", "Partners CA 2027", day)
	caFile := filepath.Join(dir, "clients-ca.pem")
	copyFile := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(first.CertFile)
	now := time.Now()
	st, _, ps := planTLS(&config.TLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientAuth: "require", ClientCAFile: caFile},
		slog.New(slog.DiscardHandler), now)
	if ps != nil {
		t.Fatal(ps)
	}
	st.certs.now = func() time.Time { return now }
	base := st.config()
	if base.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("ClientAuth = %v, want RequireAndVerifyClientCert", base.ClientAuth)
	}
	pool := func(file string) *x509.CertPool {
		p, err := loadCAs(file)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	handshake := func() *tls.Config {
		c, err := base.GetConfigForClient(&tls.ClientHelloInfo{ServerName: "api.example.test"})
		if err != nil || c == nil {
			t.Fatalf("GetConfigForClient = %v, %v", c, err)
		}
		return c
	}
	c1 := handshake()
	if !c1.ClientCAs.Equal(pool(first.CertFile)) {
		t.Fatal("first handshake does not verify against the bundle's CA")
	}
	if c2 := handshake(); c2 != c1 {
		t.Fatal("an unchanged bundle built a new config")
	}
	copyFile(second.CertFile)
	now = now.Add(certCheckEvery)
	if c3 := handshake(); !c3.ClientCAs.Equal(pool(second.CertFile)) || c3.GetCertificate == nil || c3.MinVersion != tls.VersionTLS12 {
		t.Fatal("after the bundle changed, handshakes do not verify against the new CA with the listener's settings")
	}
}
