package mtls

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Name is the route auth method's name.
const Name = "mtls"

// Challenge is the WWW-Authenticate value of a 401 for a route that takes
// client certificates.
const Challenge = "MutualTLS"

// Resolver maps a consumer id to a consumer. It returns nil, false, nil
// for an id that names no consumer, and an error when it cannot tell
// (storage down). It is called on the request path.
type Resolver interface {
	ByID(ctx context.Context, id string) (*pipeline.Consumer, bool, error)
}

// Errors Authenticate returns inside a 401.
var (
	// ErrNoID: the certificate lacks the field consumer_from names.
	ErrNoID = errors.New("the client certificate does not carry the consumer id field")
	// ErrUnknownConsumer: the id names no consumer.
	ErrUnknownConsumer = errors.New("the client certificate names no consumer")
)

// Method authenticates by verified client certificate. It is immutable
// and safe for concurrent use.
type Method struct {
	from string
	res  Resolver
}

// New returns the method for c (nil: consumer_from subject_cn) over res.
func New(c *config.MTLSAuth, res Resolver) *Method {
	from := config.ConsumerFromSubjectCN
	if c != nil && c.ConsumerFrom != "" {
		from = c.ConsumerFrom
	}
	return &Method{from: from, res: res}
}

// Authenticate returns ok=false when r's connection carries no verified
// client certificate, the consumer its id names, or an error: 401 when the
// certificate names no consumer, 503 when the consumer cannot be looked
// up. On success it records the certificate on r's Exchange.
func (m *Method) Authenticate(r *http.Request) (*pipeline.Consumer, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.VerifiedChains[0][0]
	id := ConsumerID(leaf, m.from)
	if id == "" {
		return nil, false, pipeline.Error(http.StatusUnauthorized, ErrNoID)
	}
	if m.res == nil {
		return nil, false, pipeline.Error(http.StatusUnauthorized, ErrUnknownConsumer)
	}
	c, found, err := m.res.ByID(r.Context(), id)
	switch {
	case err != nil:
		return nil, false, &pipeline.HTTPError{Status: http.StatusServiceUnavailable, Code: "storage_unavailable",
			Message: "client certificates cannot be checked right now", Header: http.Header{"Retry-After": {"1"}}, Err: err}
	case !found || c == nil:
		return nil, false, pipeline.Error(http.StatusUnauthorized, ErrUnknownConsumer)
	}
	if x := pipeline.ExchangeOf(r); x != nil {
		x.ClientCert = Describe(leaf)
	}
	return c, true, nil
}

// ConsumerID returns the field of leaf that from names ("" when absent).
func ConsumerID(leaf *x509.Certificate, from string) string {
	switch from {
	case config.ConsumerFromSANDNS:
		if len(leaf.DNSNames) > 0 {
			return leaf.DNSNames[0]
		}
	case config.ConsumerFromSANURI:
		if len(leaf.URIs) > 0 {
			return leaf.URIs[0].String()
		}
	case config.ConsumerFromSANEmail:
		if len(leaf.EmailAddresses) > 0 {
			return leaf.EmailAddresses[0]
		}
	default:
		return leaf.Subject.CommonName
	}
	return ""
}

// Describe returns what the upstream is told of leaf: its subject (RFC
// 2253 form) and the lowercase hex SHA-256 of its DER encoding.
func Describe(leaf *x509.Certificate) *pipeline.ClientCert {
	sum := sha256.Sum256(leaf.Raw)
	return &pipeline.ClientCert{Subject: leaf.Subject.String(), Fingerprint: hex.EncodeToString(sum[:])}
}
