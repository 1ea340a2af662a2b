package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestUpstreamTLS: an upstream with a private CA that requires a client
// certificate, known only as partners.internal, is reached with its tls
// block (no SSL_CERT_FILE) on both clients, by an aggregate call and by
// its health checks; the same target under a tls block with another CA is
// a 502 TLS failure; insecure_skip_verify warns at start and reload.
func TestUpstreamTLS(t *testing.T) {
	t.Parallel()
	serverCA, clients, other := newUpstreamCA(t, "partners"), newUpstreamCA(t, "gateways"), newUpstreamCA(t, "other")
	pair, _, _ := serverCA.issuePair(t, "partners.internal", false, time.Now().Add(time.Hour))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"client": r.TLS.PeerCertificates[0].Subject.CommonName, "proto": r.Proto, "path": r.URL.Path})
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, gwCert, gwKey := clients.issuePair(t, "gantry-gw", true, time.Now().Add(time.Hour))

	tlsBlock := func(ca string) string {
		return fmt.Sprintf("{ca_file: %q, server_name: partners.internal, cert_file: %q, key_file: %q}", ca, gwCert, gwKey)
	}
	health := "health_check: {path: /healthz, interval: 200ms, timeout: 150ms, unhealthy_after: 1, healthy_after: 1}"
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  partners:
    targets: [{url: %[1]q}]
    tls: %[2]s
    %[4]s
  partners-h1:
    protocol: http1
    targets: [{url: %[1]q}]
    tls: %[2]s
  wrong-ca:
    targets: [{url: %[1]q}]
    tls: %[3]s
  skip:
    targets: [{url: %[1]q}]
    tls: {insecure_skip_verify: true, cert_file: %[5]q, key_file: %[6]q}
routes:
  - {name: partners, match: {path_prefix: /partners/}, upstream: partners}
  - {name: partners-h1, match: {path_prefix: /h1/}, upstream: partners-h1}
  - {name: wrong-ca, match: {path_prefix: /wrong/}, upstream: wrong-ca}
  - {name: skip, match: {path_prefix: /skip/}, upstream: skip}
  - name: both
    match: {path: /both}
    aggregate:
      calls:
        - {name: a, upstream: partners, path: /a}
        - {name: b, upstream: partners-h1, path: /b}
`, srv.URL, tlsBlock(serverCA.file), tlsBlock(other.file), health, gwCert, gwKey)))

	// Past a few health rounds: probes verified under the same settings.
	time.Sleep(700 * time.Millisecond)
	for path, proto := range map[string]string{"/partners/x": "HTTP/2.0", "/h1/x": "HTTP/1.1", "/skip/x": "HTTP/2.0"} {
		r := get(t, g.URL+path)
		var got map[string]string
		if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil || got["client"] != "gantry-gw" || got["proto"] != proto {
			t.Errorf("GET %s: %d %q, want 200 from client gantry-gw over %s", path, r.Status, r.Body, proto)
		}
	}
	r := get(t, g.URL+"/both")
	if r.Status != 200 || !strings.Contains(string(r.Body), `"client":"gantry-gw"`) || r.Header.Get("X-Gantry-Partial") != "" {
		t.Errorf("GET /both: %d %q, want 200 with both calls", r.Status, r.Body)
	}
	r = get(t, g.URL+"/wrong/x")
	if r.Status != http.StatusBadGateway {
		t.Fatalf("GET /wrong/x: %d %q, want 502", r.Status, r.Body)
	}
	if e := r.gwError(t); e.Error != "bad_gateway" || e.Message != "TLS handshake with upstream failed" {
		t.Errorf("GET /wrong/x: %+v, want bad_gateway TLS handshake with upstream failed", e)
	}
	_, body := g.Admin("GET", "/admin/upstreams", "")
	if strings.Contains(string(body), "unhealthy") {
		t.Errorf("a target of an upstream with tls is unhealthy: %s", body)
	}

	warning := "insecure_skip_verify is set"
	if n := strings.Count(g.Stderr()+g.Stdout(), warning); n != 1 {
		t.Fatalf("warning logged %d times at start, want once: %s", n, g.Stderr())
	}
	if code, body := g.Admin("POST", "/admin/reload", ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if n := strings.Count(g.Stderr()+g.Stdout(), warning); n != 2 {
		t.Errorf("warning logged %d times after a reload, want twice", n)
	}
}

// TestUpstreamTLSValidate: gantry validate reads the tls files and reports
// each problem at its key path.
func TestUpstreamTLSValidate(t *testing.T) {
	t.Parallel()
	ca, other := newUpstreamCA(t, "partners"), newUpstreamCA(t, "other")
	_, certFile, _ := ca.issuePair(t, "gantry-gw", true, time.Now().Add(time.Hour))
	_, _, otherKey := other.issuePair(t, "someone", true, time.Now().Add(time.Hour))
	path := testkit.WriteConfig(t, base(fmt.Sprintf(`upstreams:
  partners:
    targets: [{url: "https://127.0.0.1:8443"}]
    tls: {ca_file: %q, cert_file: %q, key_file: %q}
routes:
  - {name: partners, match: {path_prefix: /}, upstream: partners}
`, ca.file+".missing", certFile, otherKey)))
	out, err := exec.Command(testkit.Binary(t), "validate", "--config", path).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a missing CA file and a mismatched key:\n%s", out)
	}
	for _, want := range []string{"upstreams.partners.tls.ca_file", "upstreams.partners.tls.cert_file"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %s:\n%s", want, out)
		}
	}
}

// upstreamCA is the e2e tests' CA (testCA) with its certificate written
// out, as an upstream's tls.ca_file names it.
type upstreamCA struct {
	*testCA
	file string // the CA certificate, PEM
}

func newUpstreamCA(t *testing.T, name string) *upstreamCA {
	t.Helper()
	ca := newTestCA(t, name)
	return &upstreamCA{testCA: ca, file: ca.caFile(t)}
}

// issuePair signs a leaf certificate for cn (also its only DNS name, no IP
// address) valid until notAfter, for a server or a client, writes it and
// its key as PEM files and returns them loaded too.
func (ca *upstreamCA) issuePair(t *testing.T, cn string, client bool, notAfter time.Time) (tls.Certificate, string, string) {
	t.Helper()
	certFile, keyFile := ca.issueFiles(t, cn, leafOpts{cn: cn, dns: []string{cn}, client: client, notAfter: notAfter, noIP: true})
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}
