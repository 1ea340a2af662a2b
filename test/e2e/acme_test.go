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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
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

// pebbleOpts configure startPebble.
type pebbleOpts struct {
	// validity of the certificates pebble issues.
	validity time.Duration
	// validate makes pebble check challenges for real: every name
	// resolves to 127.0.0.1 (a DNS server made for the test) and pebble
	// connects to httpPort for HTTP-01 and tlsPort for TLS-ALPN-01.
	// Without it every challenge is accepted unchecked.
	validate          bool
	httpPort, tlsPort int
}

// startPebble runs pebble in the test process.
func startPebble(t *testing.T, o pebbleOpts) *pebble {
	t.Helper()
	logger := log.New(io.Discard, "pebble ", log.LstdFlags)
	if testing.Verbose() {
		logger.SetOutput(testWriter{t})
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	resolver := ""
	if o.validate {
		t.Setenv("PEBBLE_VA_ALWAYS_VALID", "0")
		resolver = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		dns, err := challtestsrv.New(challtestsrv.Config{Log: logger, DNSAddrs: []string{resolver}})
		if err != nil {
			t.Fatal(err)
		}
		dns.SetDefaultDNSIPv4("127.0.0.1")
		dns.SetDefaultDNSIPv6("")
		dns.Run()
		t.Cleanup(dns.Shutdown)
	} else {
		t.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "short-lived", ValidityPeriod: uint64(o.validity / time.Second)},
	})
	validator := va.New(logger, o.httpPort, o.tlsPort, false, resolver, store)
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
	p := startPebble(t, pebbleOpts{validity: 30 * time.Second})
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

// acmeConfig is a gateway listening on 127.0.0.1:port with ACME for
// acme.example.test from p, and extra lines in server.tls.acme.
func acmeConfig(t *testing.T, p *pebble, port int, extra string) string {
	t.Helper()
	e := testkit.NewEcho(t, "app")
	return fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:%d"
  tls:
    acme:
      domains: [acme.example.test]
      directory: %q
      ca_file: %q
      storage: %q
%s
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`, port, p.directory, p.caFile, filepath.Join(t.TempDir(), "acme"), extra, e.URL)
}

// TestACMEChallengeTLSALPN01: pebble validates the TLS-ALPN-01 challenge
// by connecting to the gateway's TLS listener, which answers it; only
// then is the certificate issued and served.
func TestACMEChallengeTLSALPN01(t *testing.T) {
	port := freePort(t)
	p := startPebble(t, pebbleOpts{validity: time.Hour, validate: true, tlsPort: port, httpPort: freePort(t)})
	g := testkit.Start(t, acmeConfig(t, p, port, ""))
	waitServed(t, g.Addr, "acme.example.test", p.roots, 30*time.Second)
}

// TestACMEChallengeHTTP01: with http_listen, pebble validates HTTP-01 on
// that plain listener. Its TLS-ALPN-01 port is closed, so the certificate
// can only come from HTTP-01.
func TestACMEChallengeHTTP01(t *testing.T) {
	port, httpPort := freePort(t), freePort(t)
	p := startPebble(t, pebbleOpts{validity: time.Hour, validate: true, tlsPort: freePort(t), httpPort: httpPort})
	g := testkit.Start(t, acmeConfig(t, p, port, fmt.Sprintf("      http_listen: \"127.0.0.1:%d\"", httpPort)))
	waitServed(t, g.Addr, "acme.example.test", p.roots, 30*time.Second)

	// Other plain requests are sent to HTTPS.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/x?y=1", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := fmt.Sprintf("https://127.0.0.1:%d/x?y=1", port); resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("plain request: %d Location %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

// TestACMEValidate: gantry validate checks server.tls.acme and reads its
// ca_file, but reaches no CA (the directory here answers nothing).
func TestACMEValidate(t *testing.T) {
	badCA := filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodCA := newTestCA(t, "ACME directory CA").caFile(t)
	acme := func(extra string) string {
		return testkit.WriteConfig(t, oneRoute(t, "http://127.0.0.1:9", `  tls:
    acme:
      domains: [api.example.test]
      directory: "https://127.0.0.1:9/directory"
`+extra))
	}
	tests := []struct {
		name     string
		extra    string
		wantCode int
		want     []string
	}{
		{"valid", fmt.Sprintf("      ca_file: %q\n", goodCA), 0, []string{"ok"}},
		{"ca_file", fmt.Sprintf("      ca_file: %q\n", badCA), 1, []string{"server.tls.acme.ca_file", "no PEM certificate"}},
		{"renew_before zero", "      renew_before: 0s\n", 1, []string{"server.tls.acme.renew_before"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runGantry(t, "validate", "--config", acme(tt.extra))
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
