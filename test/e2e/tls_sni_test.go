package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	dir  string
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, dir: t.TempDir(), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	return ca
}

func serialNumber(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// caFile writes the CA's certificate as PEM and returns its path.
func (ca *testCA) caFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(ca.dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// leafOpts describe a certificate the CA issues.
type leafOpts struct {
	cn       string
	dns      []string
	client   bool
	notAfter time.Time
	// noIP leaves 127.0.0.1 out of a server certificate, so only its
	// DNS names (a configured server_name) verify it.
	noIP bool
}

// issue returns a certificate and key the CA signed.
func (ca *testCA) issue(t *testing.T, o leafOpts) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(24 * time.Hour)
	}
	eku := x509.ExtKeyUsageServerAuth
	if o.client {
		eku = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(t),
		Subject:      pkix.Name{CommonName: o.cn, Organization: []string{"Gantry e2e"}},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
		DNSNames:     o.dns,
	}
	if !o.client && !o.noIP {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

// issueFiles issues a certificate and writes it as name.pem and
// name-key.pem in the CA's directory.
func (ca *testCA) issueFiles(t *testing.T, name string, o leafOpts) (certFile, keyFile string) {
	t.Helper()
	_, c, k := ca.issue(t, o)
	certFile, keyFile = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+"-key.pem")
	writeAtomic(t, keyFile, k)
	writeAtomic(t, certFile, c)
	return certFile, keyFile
}

// writeAtomic replaces path with b in one rename, as deployment tools
// rotate certificates.
func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// servedCN dials addr with sni and returns the common name of the
// certificate the gateway served.
func servedCN(t *testing.T, addr, sni string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots,
		// The default certificate is served for names it does not carry;
		// the test looks at which one came, not whether it fits.
		InsecureSkipVerify: sni == "unknown.example.test"})
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSCertificatesBySNI(t *testing.T) {
	ca := newTestCA(t, "Gantry e2e server CA")
	apiCert, apiKey := ca.issueFiles(t, "api", leafOpts{cn: "api", dns: []string{"api.example.test"}})
	adminCert, adminKey := ca.issueFiles(t, "admin", leafOpts{cn: "admin", dns: []string{"admin.example.test", "*.admin.example.test"}})
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, fmt.Sprintf(`  tls:
    min_version: "1.3"
    certificates:
      - {cert_file: %q, key_file: %q}
      - {cert_file: %q, key_file: %q}`, apiCert, apiKey, adminCert, adminKey)))

	tests := []struct {
		sni, want string
	}{
		{"api.example.test", "api"},
		{"admin.example.test", "admin"},
		{"eu.admin.example.test", "admin"},
		{"unknown.example.test", "api"},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			if got := servedCN(t, g.Addr, tt.sni, ca.pool); got != tt.want {
				t.Fatalf("certificate for SNI %q = %q, want %q", tt.sni, got, tt.want)
			}
		})
	}
	t.Run("min_version", func(t *testing.T) {
		c, err := tls.Dial("tcp", g.Addr, &tls.Config{ServerName: "api.example.test", RootCAs: ca.pool, MaxVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
			t.Fatal("a TLS 1.2 client was served with min_version 1.3")
		}
	})
}

func TestTLSCertificateRotation(t *testing.T) {
	ca := newTestCA(t, "Gantry e2e server CA")
	certFile, keyFile := ca.issueFiles(t, "api", leafOpts{cn: "api-2026", dns: []string{"api.example.test"}})
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, fmt.Sprintf("  tls: {cert_file: %q, key_file: %q}", certFile, keyFile)))
	if got := servedCN(t, g.Addr, "api.example.test", ca.pool); got != "api-2026" {
		t.Fatalf("served %q before rotation, want api-2026", got)
	}
	ca.issueFiles(t, "api", leafOpts{cn: "api-2027", dns: []string{"api.example.test"}})
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := servedCN(t, g.Addr, "api.example.test", ca.pool)
		if got == "api-2027" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q 15s after the files were rotated, want api-2027", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestTLSValidateCertificates(t *testing.T) {
	ca := newTestCA(t, "Gantry e2e server CA")
	expCert, expKey := ca.issueFiles(t, "expired", leafOpts{cn: "old", dns: []string{"old.example.test"}, notAfter: time.Now().Add(-time.Hour)})
	soonCert, soonKey := ca.issueFiles(t, "soon", leafOpts{cn: "soon", dns: []string{"soon.example.test"}, notAfter: time.Now().Add(72 * time.Hour)})
	okCert, okKey := ca.issueFiles(t, "ok", leafOpts{cn: "ok", dns: []string{"ok.example.test"}})
	_, otherKey := ca.issueFiles(t, "other", leafOpts{cn: "other"})
	badCA := filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(tlsYAML string) string {
		return testkit.WriteConfig(t, oneRoute(t, "http://127.0.0.1:9", tlsYAML))
	}
	tests := []struct {
		name     string
		tls      string
		wantCode int
		want     []string
	}{
		{"expired", fmt.Sprintf("  tls: {cert_file: %q, key_file: %q}", expCert, expKey), 1,
			[]string{"server.tls.cert_file", "expired at"}},
		{"expires soon", fmt.Sprintf("  tls: {certificates: [{cert_file: %q, key_file: %q}, {cert_file: %q, key_file: %q}]}", okCert, okKey, soonCert, soonKey), 0,
			[]string{"warning: server.tls.certificates[1].cert_file", "expires at", "ok"}},
		{"key of another certificate", fmt.Sprintf("  tls: {certificates: [{cert_file: %q, key_file: %q}]}", okCert, otherKey), 1,
			[]string{"server.tls.certificates[0].key_file", "is not the private key"}},
		{"client CA file", fmt.Sprintf("  tls: {cert_file: %q, key_file: %q, client_auth: require, client_ca_file: %q}", okCert, okKey, badCA), 1,
			[]string{"server.tls.client_ca_file", "no PEM certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runGantry(t, "validate", "--config", config(tt.tls))
			if code != tt.wantCode {
				t.Fatalf("validate exit %d, want %d: %s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("validate output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
