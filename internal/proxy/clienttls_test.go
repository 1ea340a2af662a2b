package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/upstream"
)

// mtlsUpstream starts an upstream whose certificate, for
// partners.internal only, is signed by a private CA, and which requires a
// client certificate signed by clients; it answers with the client
// certificate's common name and the protocol.
func mtlsUpstream(t *testing.T, serverCA, clients *testCA) *httptest.Server {
	t.Helper()
	pair, _, _ := serverCA.issue(t, "partners.internal", false, time.Now().Add(time.Hour))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Client-CN", r.TLS.PeerCertificates[0].Subject.CommonName)
		w.Header().Set("X-Proto", r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients.pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestClientTLS: an upstream's tls block reaches a target with a private
// CA that requires a client certificate, under server_name, on both
// clients (net/http's for auto, the gateway's own for http1); a CA that
// does not match, or no client certificate, is a 502 TLS failure.
func TestClientTLS(t *testing.T) {
	t.Parallel()
	serverCA, clients, other := newTestCA(t, "partners"), newTestCA(t, "gateways"), newTestCA(t, "other")
	srv := mtlsUpstream(t, serverCA, clients)
	_, gwCert, gwKey := clients.issue(t, "gantry-gw", true, time.Now().Add(time.Hour))
	good := &config.UpstreamTLS{CAFile: serverCA.file, ServerName: "partners.internal", CertFile: gwCert, KeyFile: gwKey}
	const handshake = "TLS handshake with upstream failed"
	tests := []struct {
		name    string
		tls     *config.UpstreamTLS
		wantErr bool
		// wantMsg is the message of the 502; "" accepts any. With
		// HTTP/2 over TLS 1.3 the server's refusal of the client
		// certificate can reach net/http after it gave up on the
		// connection, without the alert.
		wantMsg map[string]string
	}{
		{name: "private CA and client certificate", tls: good},
		{name: "CA does not match", tls: &config.UpstreamTLS{CAFile: other.file, ServerName: "partners.internal", CertFile: gwCert, KeyFile: gwKey}, wantErr: true,
			wantMsg: map[string]string{config.ProtocolAuto: handshake, config.ProtocolHTTP1: handshake}},
		{name: "no client certificate", tls: &config.UpstreamTLS{CAFile: serverCA.file, ServerName: "partners.internal"}, wantErr: true,
			wantMsg: map[string]string{config.ProtocolHTTP1: handshake}},
		{name: "verified under the target's host", tls: &config.UpstreamTLS{CAFile: serverCA.file, CertFile: gwCert, KeyFile: gwKey}, wantErr: true,
			wantMsg: map[string]string{config.ProtocolAuto: handshake, config.ProtocolHTTP1: handshake}},
	}
	for _, tt := range tests {
		for _, protocol := range []string{config.ProtocolAuto, config.ProtocolHTTP1} {
			t.Run(tt.name+"/"+protocol, func(t *testing.T) {
				t.Parallel()
				ct, ps := LoadClientTLS(tt.tls, "upstreams.partners.tls", time.Now())
				if ps != nil {
					t.Fatalf("LoadClientTLS() = %v", ps)
				}
				trs := NewTransports()
				t.Cleanup(trs.CloseIdle)
				up := &config.Upstream{Protocol: protocol, TLS: tt.tls}
				h := newProxy(t, up, nil, Options{Transports: trs, TLS: ct}, srv.URL)
				rec, err := call(h, httptest.NewRequest("GET", "/x", nil), &pipeline.Exchange{})
				if tt.wantErr {
					he, ok := errors.AsType[*pipeline.HTTPError](err)
					want := tt.wantMsg[protocol]
					if !ok || he.Status != http.StatusBadGateway || (want != "" && he.Message != want) {
						t.Fatalf("error %v, want 502 %q", err, want)
					}
					return
				}
				if err != nil || rec.Code != 200 {
					t.Fatalf("answer %d, error %v", rec.Code, err)
				}
				want := "HTTP/2.0"
				if protocol == config.ProtocolHTTP1 {
					want = "HTTP/1.1"
				}
				if cn, proto := rec.Header().Get("X-Client-CN"), rec.Header().Get("X-Proto"); cn != "gantry-gw" || proto != want {
					t.Errorf("upstream saw client %q over %s, want gantry-gw over %s", cn, proto, want)
				}
			})
		}
	}
}

// TestClientTLSUpstreamWithoutLoad: an upstream with a tls block whose
// settings were not loaded is refused, never sent with the defaults.
func TestClientTLSUpstreamWithoutLoad(t *testing.T) {
	t.Parallel()
	up := &config.Upstream{TLS: &config.UpstreamTLS{ServerName: "partners.internal"}, Targets: []*config.Target{{URL: "https://127.0.0.1:1"}}}
	pool, err := upstream.NewPool("partners", up, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(pool, up, nil, Options{}); err == nil {
		t.Fatal("New() = nil error for an upstream whose tls was not loaded")
	}
}

// TestClientTLSTransportKey: transports are shared per TLS settings and
// file contents: the same files loaded twice (a reload) share one, other
// settings or a rotated file get their own.
func TestClientTLSTransportKey(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "partners")
	_, certFile, keyFile := ca.issue(t, "gantry-gw", true, time.Now().Add(time.Hour))
	load := func(c *config.UpstreamTLS) *ClientTLS {
		ct, ps := LoadClientTLS(c, "upstreams.partners.tls", time.Now())
		if ps != nil {
			t.Fatal(ps)
		}
		return ct
	}
	trs := NewTransports()
	up := &config.Upstream{}
	base := &config.UpstreamTLS{CAFile: ca.file, CertFile: certFile, KeyFile: keyFile}
	a, b := trs.Upstream(up, load(base)), trs.Upstream(up, load(base))
	if a != b {
		t.Error("the same settings loaded twice got two transports")
	}
	named := *base
	named.ServerName = "partners.internal"
	plain := trs.Upstream(up, nil)
	if c := trs.Upstream(up, load(&named)); c == a || plain == a || plain == c {
		t.Error("different TLS settings share a transport")
	}
	ca.issue(t, "gantry-gw", true, time.Now().Add(2*time.Hour)) // rotates the files
	if d := trs.Upstream(up, load(base)); d == a {
		t.Error("a rotated client certificate kept the old transport")
	}
}

// TestLoadClientTLSProblems: what the files hold is checked at load, at
// each file's key path.
func TestLoadClientTLSProblems(t *testing.T) {
	t.Parallel()
	ca, other := newTestCA(t, "partners"), newTestCA(t, "other")
	_, certFile, keyFile := ca.issue(t, "gantry-gw", true, time.Now().Add(time.Hour))
	_, _, otherKey := other.issue(t, "someone", true, time.Now().Add(time.Hour))
	_, oldCert, oldKey := other.issue(t, "expired", true, time.Now().Add(-time.Hour))
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tls      config.UpstreamTLS
		wantPath string
		wantMsg  string
	}{
		{name: "good", tls: config.UpstreamTLS{CAFile: ca.file, CertFile: certFile, KeyFile: keyFile}},
		{name: "missing CA file", tls: config.UpstreamTLS{CAFile: ca.file + ".missing"}, wantPath: "upstreams.partners.tls.ca_file", wantMsg: "no such file"},
		{name: "CA file without certificates", tls: config.UpstreamTLS{CAFile: notPEM}, wantPath: "upstreams.partners.tls.ca_file", wantMsg: "no PEM CERTIFICATE"},
		{name: "key of another certificate", tls: config.UpstreamTLS{CertFile: certFile, KeyFile: otherKey}, wantPath: "upstreams.partners.tls.cert_file", wantMsg: "does not match"},
		{name: "missing key file", tls: config.UpstreamTLS{CertFile: certFile, KeyFile: keyFile + ".missing"}, wantPath: "upstreams.partners.tls.key_file", wantMsg: "no such file"},
		{name: "expired client certificate", tls: config.UpstreamTLS{CertFile: oldCert, KeyFile: oldKey}, wantPath: "upstreams.partners.tls.cert_file", wantMsg: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct, ps := LoadClientTLS(&tt.tls, "upstreams.partners.tls", time.Now())
			if tt.wantPath == "" {
				if ps != nil || ct == nil {
					t.Fatalf("LoadClientTLS() = %v, %v", ct, ps)
				}
				return
			}
			if ct != nil || len(ps) != 1 || ps[0].Path != tt.wantPath || !strings.Contains(ps[0].Message, tt.wantMsg) {
				t.Fatalf("LoadClientTLS() = %v, %v; want one problem at %s containing %q", ct, ps, tt.wantPath, tt.wantMsg)
			}
		})
	}
}

// testCA is a private certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
	dir  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
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
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	ca.file = filepath.Join(ca.dir, name+"-ca.pem")
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// pool returns a pool holding only the CA.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a leaf certificate for cn (also its only DNS name, no IP
// address) valid until notAfter, for a server or a client, and writes
// it and its key as PEM files.
func (ca *testCA) issue(t *testing.T, cn string, client bool, notAfter time.Time) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(ca.dir, cn+".pem"), filepath.Join(ca.dir, cn+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadClientTLSWarnings: a client certificate close to its expiry is
// loaded, with a warning at its key path; one far from it gets none.
func TestLoadClientTLSWarnings(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "partners")
	_, soonCert, soonKey := ca.issue(t, "soon", true, time.Now().Add(72*time.Hour))
	_, farCert, farKey := ca.issue(t, "far", true, time.Now().Add(60*24*time.Hour))
	ct, ps := LoadClientTLS(&config.UpstreamTLS{CertFile: soonCert, KeyFile: soonKey}, "upstreams.partners.tls", time.Now())
	if ps != nil || ct == nil {
		t.Fatalf("LoadClientTLS(soon) = %v, %v", ct, ps)
	}
	if w := ct.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "upstreams.partners.tls.cert_file: ") || !strings.Contains(w[0], "expires") {
		t.Errorf("warnings for a certificate expiring in 3 days = %q", w)
	}
	ct, ps = LoadClientTLS(&config.UpstreamTLS{CertFile: farCert, KeyFile: farKey}, "upstreams.partners.tls", time.Now())
	if ps != nil || ct == nil || len(ct.Warnings()) != 0 {
		t.Errorf("LoadClientTLS(far) = %v, %v, warnings %q", ct, ps, ct.Warnings())
	}
}
