package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// mtlsClient returns a client that trusts roots and presents cert, if
// given, whatever CAs the server names as acceptable: Go's client would
// otherwise keep a certificate of another CA to itself and send none.
func mtlsClient(t *testing.T, roots *x509.CertPool, cert ...tls.Certificate) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "api.example.test"}
	if len(cert) > 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert[0], nil }
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// mtlsGet sends GET url with headers ("Name: value") through c.
func mtlsGet(t *testing.T, c *http.Client, url string, headers ...[2]string) (response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

func TestTLSClientAuthRequire(t *testing.T) {
	serverCA := newTestCA(t, "Gantry e2e server CA")
	clientCA := newTestCA(t, "Gantry e2e client CA")
	otherCA := newTestCA(t, "Some other CA")
	certFile, keyFile := serverCA.issueFiles(t, "api", leafOpts{cn: "api", dns: []string{"api.example.test"}})
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, oneRoute(t, e.URL, fmt.Sprintf("  tls: {cert_file: %q, key_file: %q, client_auth: require, client_ca_file: %q}",
		certFile, keyFile, clientCA.caFile(t))))

	good, _, _ := clientCA.issue(t, leafOpts{cn: "partner-acme", client: true})
	foreign, _, _ := otherCA.issue(t, leafOpts{cn: "partner-acme", client: true})
	tests := []struct {
		name   string
		certs  []tls.Certificate
		wantOK bool
	}{
		{"no client certificate", nil, false},
		{"certificate from another CA", []tls.Certificate{foreign}, false},
		{"certificate from the client CA", []tls.Certificate{good}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Reset()
			r, err := mtlsGet(t, mtlsClient(t, serverCA.pool, tt.certs...), g.URL+"/orders")
			if !tt.wantOK {
				if err == nil {
					t.Fatalf("request served with status %d, want a refused handshake", r.Status)
				}
				if n := e.Count(); n != 0 {
					t.Fatalf("upstream saw %d requests", n)
				}
				return
			}
			if err != nil || r.Status != http.StatusOK {
				t.Fatalf("status %d, error %v; want 200", r.Status, err)
			}
		})
	}
}

func TestMTLSConsumers(t *testing.T) {
	serverCA := newTestCA(t, "Gantry e2e server CA")
	clientCA := newTestCA(t, "Gantry e2e client CA")
	certFile, keyFile := serverCA.issueFiles(t, "api", leafOpts{cn: "api", dns: []string{"api.example.test"}})
	e := testkit.NewEcho(t, "app")
	g := testkit.Start(t, baseWith(fmt.Sprintf("  tls: {cert_file: %q, key_file: %q, client_auth: request, client_ca_file: %q}",
		certFile, keyFile, clientCA.caFile(t)), fmt.Sprintf(`auth:
  mtls: {consumer_from: subject_cn}
plans:
  partner:
    rate_limit: {requests: 3, per: 1m}
consumers:
  - id: partner-acme
    plan: partner
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: partners
    match: {path_prefix: /partners}
    auth: [mtls]
    upstream: app
  - name: public
    match: {path_prefix: /}
    upstream: app
`, e.URL)))

	acme, _, _ := clientCA.issue(t, leafOpts{cn: "partner-acme", client: true})
	stranger, _, _ := clientCA.issue(t, leafOpts{cn: "partner-unknown", client: true})
	forged := [][2]string{{"X-Client-Cert-Subject", "CN=admin"}, {"X-Client-Cert-Fingerprint", "00"}, {"X-Consumer-ID", "admin"}}

	t.Run("no certificate", func(t *testing.T) {
		r, err := mtlsGet(t, mtlsClient(t, serverCA.pool), g.URL+"/partners/orders", forged...)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
		}
		if got := r.Header.Get("WWW-Authenticate"); got != "MutualTLS" {
			t.Fatalf("WWW-Authenticate = %q, want MutualTLS", got)
		}
		if ge := r.gwError(t); ge.Error != "unauthorized" {
			t.Fatalf("error code %q, want unauthorized", ge.Error)
		}
	})
	t.Run("certificate naming no consumer", func(t *testing.T) {
		r, err := mtlsGet(t, mtlsClient(t, serverCA.pool, stranger), g.URL+"/partners/orders")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		// client_auth: request verifies a certificate that is sent: one
		// that does not verify fails the handshake, even for public routes.
		foreign, _, _ := newTestCA(t, "Some other CA").issue(t, leafOpts{cn: "partner-acme", client: true})
		if r, err := mtlsGet(t, mtlsClient(t, serverCA.pool, foreign), g.URL+"/public"); err == nil {
			t.Fatalf("served with status %d, want a refused handshake", r.Status)
		}
	})
	t.Run("forged headers on a public route", func(t *testing.T) {
		r, err := mtlsGet(t, mtlsClient(t, serverCA.pool), g.URL+"/public", forged...)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("status %d, error %v", r.Status, err)
		}
		h := http.Header(r.seen(t).Header)
		for _, f := range forged {
			if v := h.Values(f[0]); len(v) > 0 {
				t.Errorf("upstream got the client's %s: %q", f[0], v)
			}
		}
	})
	t.Run("consumer from storage over HTTP/2", func(t *testing.T) {
		if status, _ := adminJSON(t, g, "POST", "/admin/consumers", `{"id": "partner-globex", "plan": "partner"}`); status != 201 {
			t.Fatalf("create consumer: %d", status)
		}
		globex, _, _ := clientCA.issue(t, leafOpts{cn: "partner-globex", client: true})
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.pool, ServerName: "api.example.test", Certificates: []tls.Certificate{globex}},
			ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(g.URL + "/partners/orders")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("status %d over HTTP/%d, want 200 over HTTP/2: %s", resp.StatusCode, resp.ProtoMajor, b)
		}
		if got := http.Header(testkit.DecodeSeen(t, b).Header).Get("X-Consumer-Id"); got != "partner-globex" {
			t.Fatalf("X-Consumer-ID = %q, want partner-globex", got)
		}
	})
	t.Run("consumer from the subject with its plan", func(t *testing.T) {
		c := mtlsClient(t, serverCA.pool, acme)
		sum := sha256.Sum256(acme.Leaf.Raw)
		for i := range 3 {
			r, err := mtlsGet(t, c, g.URL+"/partners/orders", forged...)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusOK {
				t.Fatalf("request %d: status %d, want 200: %s", i, r.Status, r.Body)
			}
			h := http.Header(r.seen(t).Header)
			if got := h.Get("X-Consumer-Id"); got != "partner-acme" {
				t.Fatalf("X-Consumer-ID = %q, want partner-acme", got)
			}
			if got := h.Values("X-Client-Cert-Subject"); len(got) != 1 || got[0] != acme.Leaf.Subject.String() {
				t.Fatalf("X-Client-Cert-Subject = %q, want [%q]", got, acme.Leaf.Subject.String())
			}
			if got := h.Values("X-Client-Cert-Fingerprint"); len(got) != 1 || got[0] != hex.EncodeToString(sum[:]) {
				t.Fatalf("X-Client-Cert-Fingerprint = %q, want the certificate's SHA-256", got)
			}
		}
		r, err := mtlsGet(t, c, g.URL+"/partners/orders")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("4th request: status %d, want 429 (plan partner: 3 per minute): %s", r.Status, r.Body)
		}
	})
}
