package mtls

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

func partnerCert() *x509.Certificate {
	u, _ := url.Parse("spiffe://example.test/partner/acme")
	return &x509.Certificate{
		Raw:            []byte("der bytes"),
		Subject:        pkix.Name{CommonName: "partner-acme", Organization: []string{"Acme"}},
		DNSNames:       []string{"acme.partners.example.test", "other.example.test"},
		URIs:           []*url.URL{u},
		EmailAddresses: []string{"ops@acme.example"},
	}
}

func TestConsumerID(t *testing.T) {
	tests := []struct {
		from string
		want string
	}{
		{config.ConsumerFromSubjectCN, "partner-acme"},
		{config.ConsumerFromSANDNS, "acme.partners.example.test"},
		{config.ConsumerFromSANURI, "spiffe://example.test/partner/acme"},
		{config.ConsumerFromSANEmail, "ops@acme.example"},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			if got := ConsumerID(partnerCert(), tt.from); got != tt.want {
				t.Fatalf("ConsumerID(%s) = %q, want %q", tt.from, got, tt.want)
			}
			if got := ConsumerID(&x509.Certificate{}, tt.from); got != "" {
				t.Fatalf("ConsumerID(%s) of an empty certificate = %q, want \"\"", tt.from, got)
			}
		})
	}
}

type resolver map[string]*pipeline.Consumer

func (r resolver) ByID(_ context.Context, id string) (*pipeline.Consumer, bool, error) {
	if id == "storage-down" {
		return nil, false, errors.New("connection refused")
	}
	c, ok := r[id]
	return c, ok, nil
}

func TestAuthenticate(t *testing.T) {
	acme := &pipeline.Consumer{ID: "partner-acme", Plan: "partner"}
	m := New(nil, resolver{"partner-acme": acme})
	withCert := func(cn string) *tls.ConnectionState {
		c := partnerCert()
		c.Subject.CommonName = cn
		return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}}
	}
	tests := []struct {
		name       string
		state      *tls.ConnectionState
		wantOK     bool
		wantStatus int
	}{
		{"plain http", nil, false, 0},
		{"tls without a verified certificate", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{partnerCert()}}, false, 0},
		{"known consumer", withCert("partner-acme"), true, 0},
		{"unknown consumer", withCert("partner-unknown"), false, http.StatusUnauthorized},
		{"no common name", withCert(""), false, http.StatusUnauthorized},
		{"storage down", withCert("storage-down"), false, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/partners", nil)
			r.TLS = tt.state
			x := &pipeline.Exchange{}
			r = r.WithContext(pipeline.WithExchange(r.Context(), x))
			c, ok, err := m.Authenticate(r)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v (err %v)", ok, tt.wantOK, err)
			}
			status := 0
			var he *pipeline.HTTPError
			if errors.As(err, &he) {
				status = he.Status
			} else if err != nil {
				t.Fatalf("error %v is no HTTPError", err)
			}
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d", status, tt.wantStatus)
			}
			if ok {
				if c != acme {
					t.Fatalf("consumer = %+v, want %+v", c, acme)
				}
				sum := sha256.Sum256([]byte("der bytes"))
				want := pipeline.ClientCert{Subject: "CN=partner-acme,O=Acme", Fingerprint: hex.EncodeToString(sum[:])}
				if x.ClientCert == nil || *x.ClientCert != want {
					t.Fatalf("ClientCert = %+v, want %+v", x.ClientCert, want)
				}
			} else if x.ClientCert != nil {
				t.Fatalf("ClientCert = %+v recorded for a refused request", x.ClientCert)
			}
		})
	}
}
