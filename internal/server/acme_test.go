package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/gantry-dev/gantry/internal/config"
)

// withACMECert gives ac a certmagic config whose cache holds the
// certificate of p, as if it had been obtained, without reaching a CA.
func withACMECert(t *testing.T, ac *acmeCerts, p config.CertPair) {
	t.Helper()
	var magic *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           zap.NewNop(),
	})
	t.Cleanup(cache.Stop)
	magic = certmagic.New(cache, certmagic.Config{Storage: &certmagic.FileStorage{Path: t.TempDir()}, Logger: zap.NewNop()})
	if _, err := magic.CacheUnmanagedCertificatePEMFile(context.Background(), p.CertFile, p.KeyFile, nil); err != nil {
		t.Fatal(err)
	}
	ac.magic.Store(magic)
}

func TestCertStoreACMEBesideFiles(t *testing.T) {
	dir := t.TempDir()
	day := time.Now().Add(24 * time.Hour)
	files := writeCertPair(t, dir, "files", "files", day, "files.example.test", "*.example.test")
	issued := writeCertPair(t, dir, "acme", "acme", day, "acme.example.test")
	tlsCfg := &config.TLS{Certificates: []config.CertPair{files}, ACME: &config.ACME{Domains: []string{"ACME.example.test"}}}
	st, _, ps := planTLS(tlsCfg, slog.New(slog.DiscardHandler), time.Now())
	if ps != nil {
		t.Fatal(ps)
	}
	if st.acme == nil || st.certs.acme != st.acme {
		t.Fatal("planTLS did not plan server.tls.acme")
	}
	if _, err := st.certs.get(&tls.ClientHelloInfo{ServerName: "acme.example.test"}); err == nil {
		t.Fatal("an ACME domain was served before ACME started")
	}
	withACMECert(t, st.acme, issued)
	tests := []struct{ sni, want string }{
		{"files.example.test", "files"},
		{"acme.example.test", "acme"}, // ACME's domain beats the file's wildcard
		{"acme.example.test.", "acme"},
		{"shop.example.test", "files"},
		{"", "files"}, // no SNI: the first file
		{"unknown.test", "files"},
	}
	for _, tt := range tests {
		c, err := st.certs.get(&tls.ClientHelloInfo{ServerName: tt.sni})
		if err != nil {
			t.Fatalf("get(%q): %v", tt.sni, err)
		}
		leaf := c.Leaf
		if got := leaf.Subject.CommonName; got != tt.want {
			t.Errorf("get(%q) = %s, want %s", tt.sni, got, tt.want)
		}
	}
	if !strings.Contains(strings.Join(st.config().NextProtos, ","), "acme-tls/1") {
		t.Errorf("NextProtos %v lack acme-tls/1: TLS-ALPN-01 cannot be answered", st.config().NextProtos)
	}
	// A TLS-ALPN-01 validation goes to certmagic even for a file's name;
	// without a challenge under way it gets no certificate.
	conn, peer := net.Pipe()
	defer conn.Close()
	defer peer.Close()
	if c, err := st.certs.get(&tls.ClientHelloInfo{ServerName: "files.example.test", SupportedProtos: []string{"acme-tls/1"}, Conn: conn}); err == nil && c.Leaf != nil && c.Leaf.Subject.CommonName == "files" {
		t.Error("a TLS-ALPN-01 handshake was answered with the file certificate")
	}
}

func TestCertStoreACMEOnly(t *testing.T) {
	dir := t.TempDir()
	issued := writeCertPair(t, dir, "acme", "acme", time.Now().Add(24*time.Hour), "acme.example.test")
	st, _, ps := planTLS(&config.TLS{ACME: &config.ACME{Domains: []string{"acme.example.test"}}}, slog.New(slog.DiscardHandler), time.Now())
	if ps != nil {
		t.Fatal(ps)
	}
	withACMECert(t, st.acme, issued)
	c, err := st.certs.get(&tls.ClientHelloInfo{ServerName: "acme.example.test"})
	if err != nil || c.Leaf.Subject.CommonName != "acme" {
		t.Fatalf("get = %v, %v; want the ACME certificate", c, err)
	}
}

func TestPlanACMECAFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, ps := planTLS(&config.TLS{ACME: &config.ACME{Domains: []string{"a.example.test"}, CAFile: bad}}, slog.New(slog.DiscardHandler), time.Now())
	if len(ps) != 1 || ps[0].Path != "server.tls.acme.ca_file" {
		t.Fatalf("problems = %v, want one at server.tls.acme.ca_file", ps)
	}
	good := writeCertPair(t, t.TempDir(), "ca", "ca", time.Now().Add(time.Hour), "ca.example.test")
	st, _, ps := planTLS(&config.TLS{ACME: &config.ACME{Domains: []string{"a.example.test"}, CAFile: good.CertFile}}, slog.New(slog.DiscardHandler), time.Now())
	if ps != nil || st.acme.roots == nil {
		t.Fatalf("problems %v, roots %v; want ca_file loaded", ps, st.acme.roots)
	}
}

func TestRenewalRatio(t *testing.T) {
	tests := []struct {
		before time.Duration
		want   float64
	}{
		{720 * time.Hour, 1.0 / 3},
		{1200 * time.Hour, 5.0 / 9},
		{time.Minute, 0.01},
	}
	for _, tt := range tests {
		if got := renewalRatio(tt.before); got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("renewalRatio(%s) = %v, want %v", tt.before, got, tt.want)
		}
	}
}

func TestSlogCoreCarriesZapLogs(t *testing.T) {
	var buf strings.Builder
	zl := zap.New(&slogCore{log: slog.New(slog.NewJSONHandler(&buf, nil))}).Named("acme_client").With(zap.String("identifier", "a.example.test"))
	zl.Debug("dropped")
	zl.Warn("challenge failed", zap.Int("attempt", 2))
	out := buf.String()
	for _, want := range []string{`"level":"WARN"`, `"msg":"challenge failed"`, `"logger":"acme_client"`, `"identifier":"a.example.test"`, `"attempt":2`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
	if strings.Contains(out, "dropped") {
		t.Errorf("debug log passed: %s", out)
	}
}
