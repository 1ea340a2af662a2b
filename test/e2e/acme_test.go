package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// pebble is Let's Encrypt's ACME test server, run in the test process. Its
// validation authority accepts every challenge (PEBBLE_VA_ALWAYS_VALID),
// so the test needs no DNS for the domains.
type pebble struct {
	directory string
	// caFile verifies the directory's TLS certificate.
	caFile string
	// roots verify the certificates pebble issues.
	roots *x509.CertPool
}

// startPebble runs pebble issuing certificates valid for validity.
func startPebble(t *testing.T, validity time.Duration) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	logger := log.New(io.Discard, "pebble ", log.LstdFlags)
	if testing.Verbose() {
		logger.SetOutput(testWriter{t})
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "short-lived", ValidityPeriod: uint64(validity / time.Second)},
	})
	validator := va.New(logger, 0, 0, false, "", store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	tlsCA := newTestCA(t, "pebble listener CA")
	pair, _, _ := tlsCA.issue(t, leafOpts{cn: "pebble", dns: []string{"localhost"}})
	srv := httptest.NewUnstartedServer(front.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return &pebble{directory: srv.URL + wfe.DirectoryPath, caFile: tlsCA.caFile(t), roots: roots}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// acmeServed returns the serial of the certificate the gateway serves for
// sni, verified against roots, or "" when the handshake fails.
func acmeServed(addr, sni string, roots *x509.CertPool) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// waitServed polls until the gateway serves sni a verified certificate
// whose serial is not in not, and returns it.
func waitServed(t *testing.T, addr, sni string, roots *x509.CertPool, within time.Duration, not ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		serial, err := acmeServed(addr, sni, roots)
		if err == nil {
			fresh := true
			for _, n := range not {
				fresh = fresh && serial != n
			}
			if fresh {
				return serial
			}
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no new verified certificate for %s within %s (last error: %v)", sni, within, lastErr)
	return ""
}

// TestACMEIssueServeRenew: the gateway obtains a certificate for its ACME
// domain from pebble, serves it for that SNI beside a file certificate
// for another name, and renews it before it expires.
func TestACMEIssueServeRenew(t *testing.T) {
	p := startPebble(t, 30*time.Second)
	files := newTestCA(t, "Gantry e2e server CA")
	fileCert, fileKey := files.issueFiles(t, "files", leafOpts{cn: "files", dns: []string{"files.example.test"}})
	storage := filepath.Join(t.TempDir(), "acme")
	e := testkit.NewEcho(t, "app")
	// renew_before 1200h is 5/9 of a 90-day lifetime: a 30s certificate
	// is renewed some 13s after it is issued.
	g := testkit.Start(t, oneRoute(t, e.URL, fmt.Sprintf(`  tls:
    certificates:
      - {cert_file: %q, key_file: %q}
    acme:
      domains: [acme.example.test]
      email: ops@example.test
      directory: %q
      ca_file: %q
      storage: %q
      renew_before: 1200h
      check_interval: 1s`, fileCert, fileKey, p.directory, p.caFile, storage)))

	first := waitServed(t, g.Addr, "acme.example.test", p.roots, 30*time.Second)
	t.Logf("issued serial %s", first)

	// The file certificate still answers its own name.
	if got := servedCN(t, g.Addr, "files.example.test", files.pool); got != "files" {
		t.Fatalf("certificate for files.example.test = %q, want the file certificate", got)
	}

	// Requests are served over the ACME certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "acme.example.test", RootCAs: p.roots}}}
	resp, err := client.Get("https://" + g.Addr + "/")
	if err != nil {
		t.Fatalf("request over the ACME certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request over the ACME certificate: status %d", resp.StatusCode)
	}

	second := waitServed(t, g.Addr, "acme.example.test", p.roots, 40*time.Second, first)
	t.Logf("renewed serial %s", second)
	matches, _ := filepath.Glob(filepath.Join(storage, "certificates", "*", "acme.example.test", "acme.example.test.crt"))
	if len(matches) != 1 {
		t.Fatalf("certificate not kept in storage %s: %v", storage, matches)
	}
}
