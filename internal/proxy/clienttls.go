package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// ClientTLS is one upstream's TLS client settings (upstreams.NAME.tls)
// with their files read: the roots its targets are verified against, the
// client certificate the gateway presents, the verification name. It is
// immutable and safe for concurrent use. A nil *ClientTLS means the
// defaults: system roots, no client certificate, each target's host.
type ClientTLS struct {
	roots      *x509.CertPool
	certs      []tls.Certificate
	serverName string
	insecure   bool
	// warnings are what loading found worth saying but not refusing.
	warnings []string
	// id identifies the settings and the files' contents: the part of a
	// transport's key that tells TLS settings apart. Two loads of the same
	// files share transports (and their warm connections) across reloads;
	// a rotated file gets new ones.
	id [sha256.Size]byte
}

// LoadClientTLS reads the files c names and checks them: the CA file
// holds at least one certificate, none expired; the client certificate
// matches its key and has not expired. Problems are reported at their key
// paths under at ("upstreams.partners.tls"). It returns nil, nil for a
// nil c. now is the time certificates are checked against.
func LoadClientTLS(c *config.UpstreamTLS, at string, now time.Time) (*ClientTLS, config.Problems) {
	if c == nil {
		return nil, nil
	}
	var ps config.Problems
	h := sha256.New()
	field := func(b []byte) {
		_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	ct := &ClientTLS{serverName: c.ServerName, insecure: c.InsecureSkipVerify}
	field([]byte(c.ServerName))
	if c.InsecureSkipVerify {
		field([]byte{1})
	} else {
		field([]byte{0})
	}
	if c.CAFile != "" {
		pemBytes, err := os.ReadFile(c.CAFile)
		field(pemBytes)
		if err != nil {
			ps = append(ps, config.Problem{Path: at + ".ca_file", Message: err.Error()})
		} else if pool, err := caPool(pemBytes, now); err != nil {
			ps = append(ps, config.Problem{Path: at + ".ca_file", Message: fmt.Sprintf("%s: %v", c.CAFile, err)})
		} else {
			ct.roots = pool
		}
	} else {
		field(nil)
	}
	if c.CertFile != "" && c.KeyFile != "" {
		certPEM, cerr := os.ReadFile(c.CertFile)
		keyPEM, kerr := os.ReadFile(c.KeyFile)
		field(certPEM)
		field(keyPEM)
		switch {
		case cerr != nil:
			ps = append(ps, config.Problem{Path: at + ".cert_file", Message: cerr.Error()})
		case kerr != nil:
			ps = append(ps, config.Problem{Path: at + ".key_file", Message: kerr.Error()})
		default:
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			switch {
			case err != nil:
				ps = append(ps, config.Problem{Path: at + ".cert_file", Message: fmt.Sprintf("%s with %s: %v", c.CertFile, c.KeyFile, err)})
			case now.After(pair.Leaf.NotAfter):
				ps = append(ps, config.Problem{Path: at + ".cert_file", Message: fmt.Sprintf("%s expired on %s", c.CertFile, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))})
			default:
				ct.certs = []tls.Certificate{pair}
				if left := pair.Leaf.NotAfter.Sub(now); left < ClientCertExpiryWarning {
					ct.warnings = append(ct.warnings, fmt.Sprintf("%s.cert_file: the client certificate in %s expires at %s, in %s",
						at, c.CertFile, pair.Leaf.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Minute)))
				}
			}
		}
	} else {
		field(nil)
		field(nil)
	}
	if len(ps) > 0 {
		return nil, ps
	}
	h.Sum(ct.id[:0])
	return ct, nil
}

// ClientCertExpiryWarning is how close to its expiry a client certificate
// gets a warning from the plan (and `gantry validate`), as server
// certificates do.
const ClientCertExpiryWarning = 14 * 24 * time.Hour

// Warnings returns what loading found worth saying but not refusing: a
// client certificate close to its expiry. (insecure_skip_verify is logged
// by the plan at every load.) Nil for a nil ct.
func (ct *ClientTLS) Warnings() []string {
	if ct == nil {
		return nil
	}
	return ct.warnings
}

// caPool parses every CERTIFICATE block of a PEM file into a pool.
func caPool(b []byte, now time.Time) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		if now.After(cert.NotAfter) {
			return nil, fmt.Errorf("certificate %d (%s) expired on %s", n+1, cert.Subject, cert.NotAfter.UTC().Format(time.RFC3339))
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM CERTIFICATE block found")
	}
	return pool, nil
}

// InsecureSkipVerify reports whether the settings accept any certificate.
func (c *ClientTLS) InsecureSkipVerify() bool { return c != nil && c.insecure }

// Config returns a new TLS client configuration of https:// targets: TLS
// 1.2 at least (Go's default for clients made explicit); the CA file's
// roots, else roots, else (nil) the system's (SSL_CERT_FILE and
// SSL_CERT_DIR can name others); server_name as SNI and verification
// name, else the target's host (both clients fill it in per connection);
// the client certificate, if any. Each client gets its own: net/http adds
// its ALPN protocols to the one it is given. Health checks use it too.
func (c *ClientTLS) Config(roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if c == nil {
		return cfg
	}
	if c.roots != nil {
		cfg.RootCAs = c.roots
	}
	cfg.Certificates = c.certs
	cfg.ServerName = c.serverName
	// Allowed by configuration, and logged as a warning at every load.
	cfg.InsecureSkipVerify = c.insecure //nolint:gosec
	return cfg
}

func (c *ClientTLS) key() [sha256.Size]byte {
	if c == nil {
		return [sha256.Size]byte{}
	}
	return c.id
}
