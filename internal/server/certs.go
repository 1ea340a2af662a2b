package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mholt/acmez/v3"

	"github.com/gantry-dev/gantry/internal/config"
)

// certCheckEvery is how often, at most, a handshake looks at a
// certificate's files for a change: one stat of each per interval, so a
// rotated certificate is served within seconds and a busy listener does
// not stat on every handshake.
const certCheckEvery = 2 * time.Second

// expiryWarning is how close to its expiry a certificate makes plan warn.
const expiryWarning = 14 * 24 * time.Hour

// serverTLS is server.tls, planned: the certificates and how clients are
// verified. Its certificate and client CA files are read again from disk
// when they change; the rest is fixed for the process (server.tls is
// restart-only).
type serverTLS struct {
	certs      *certStore
	minVersion uint16
	clientAuth tls.ClientAuthType
	clientCAs  *x509.CertPool
	// acme is server.tls.acme; nil without it. certs.acme is the same.
	acme *acmeCerts
}

// config returns the listener's tls.Config. With a client CA bundle its
// GetConfigForClient hands each handshake the config of the bundle's
// current contents, so a rotated bundle verifies new handshakes.
func (st *serverTLS) config() *tls.Config {
	base := &tls.Config{
		GetCertificate: st.certs.get,
		MinVersion:     st.minVersion,
		ClientAuth:     st.clientAuth,
		ClientCAs:      st.clientCAs,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if st.acme != nil {
		// Offered only to a client that asks for it: the ACME CA's
		// TLS-ALPN-01 validation.
		base.NextProtos = append(base.NextProtos, acmez.ACMETLS1Protocol)
	}
	if ca := st.certs.cas; ca != nil {
		withCAs := base.Clone()
		base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return ca.config(withCAs, st.certs.now()), nil
		}
	}
	return base
}

// certStore holds the certificates of server.tls in config order and
// picks one per handshake by SNI, and the client CA bundle. It is safe for
// concurrent use.
type certStore struct {
	certs []*certFile
	// cas is server.tls.client_ca_file; nil without one.
	cas *caFile
	// acme serves server.tls.acme's domains; nil without it.
	acme *acmeCerts
	now  func() time.Time
}

// caFile is the client CA bundle, read again when the file changes. Its
// fields after mu are guarded by it.
type caFile struct {
	file string
	log  *slog.Logger

	mu      sync.Mutex
	pool    *x509.CertPool
	stamp   fileStamp
	checked time.Time
	// cfg is the handshake config over pool, built from the listener's
	// when pool changes; nil until the first handshake.
	cfg *tls.Config
}

// config returns base with the bundle's current pool as ClientCAs,
// reading the file again first when it changed and the last look is
// certCheckEvery old. A bundle that no longer parses keeps the last good
// pool and is tried again at the next interval.
func (ca *caFile) config(base *tls.Config, now time.Time) *tls.Config {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if now.Sub(ca.checked) >= certCheckEvery {
		ca.checked = now
		if fi, err := os.Stat(ca.file); err == nil {
			if st := (fileStamp{fi.ModTime(), fi.Size()}); st != ca.stamp {
				pool, err := loadCAs(ca.file)
				if err != nil {
					ca.log.Warn("reloading the client CA bundle failed; using the previous one", "client_ca_file", ca.file, "error", err)
				} else {
					ca.pool, ca.stamp, ca.cfg = pool, st, nil
					ca.log.Info("client CA bundle reloaded", "client_ca_file", ca.file)
				}
			}
		}
	}
	if ca.cfg == nil {
		c := base.Clone()
		c.ClientCAs = ca.pool
		ca.cfg = c
	}
	return ca.cfg
}

// certFile is one certificate pair, read again when either file's
// modification time or size changes. Its fields after mu are guarded by it.
type certFile struct {
	pair config.CertPair
	log  *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	names   []string
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// get is tls.Config.GetCertificate: a TLS-ALPN-01 challenge's answer from
// ACME; else the certificate file with the SNI as one of its names; else
// ACME's for its domains; else a file whose *.wildcard covers the SNI;
// else the first file's, or ACME's first domain's without files.
func (cs *certStore) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cs.acme != nil && slices.Contains(hello.SupportedProtos, acmez.ACMETLS1Protocol) {
		return cs.acme.get(hello)
	}
	if len(cs.certs) == 0 {
		return cs.acme.get(hello)
	}
	now := cs.now()
	type cand struct {
		cert  *tls.Certificate
		names []string
	}
	cands := make([]cand, len(cs.certs))
	for i, cf := range cs.certs {
		c, names := cf.current(now)
		cands[i] = cand{c, names}
	}
	sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if sni != "" {
		for _, c := range cands {
			for _, n := range c.names {
				if n == sni {
					return c.cert, nil
				}
			}
		}
		if cs.acme != nil && cs.acme.covers(hello) {
			return cs.acme.get(hello)
		}
		if _, parent, ok := strings.Cut(sni, "."); ok && parent != "" {
			wild := "*." + parent
			for _, c := range cands {
				for _, n := range c.names {
					if n == wild {
						return c.cert, nil
					}
				}
			}
		}
	}
	return cands[0].cert, nil
}

// recheck makes the next handshake look at every certificate's files,
// whenever they were last looked at: a config reload reads them at once.
func (cs *certStore) recheck() {
	for _, cf := range cs.certs {
		cf.mu.Lock()
		cf.checked = time.Time{}
		cf.mu.Unlock()
	}
	if ca := cs.cas; ca != nil {
		ca.mu.Lock()
		ca.checked = time.Time{}
		ca.mu.Unlock()
	}
}

// current returns the pair's certificate and names, reading the files
// again first when they changed and the last look is certCheckEvery old.
// A pair that no longer loads (a rotation half written) keeps the last
// good certificate and is tried again at the next interval.
func (cf *certFile) current(now time.Time) (*tls.Certificate, []string) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if now.Sub(cf.checked) < certCheckEvery {
		return cf.cert, cf.names
	}
	cf.checked = now
	stamp, err := stampPair(cf.pair)
	if err != nil || stamp == cf.stamp {
		return cf.cert, cf.names
	}
	cert, err := loadPair(cf.pair)
	if err != nil {
		cf.log.Warn("reloading a tls certificate failed; serving the previous one", "cert_file", cf.pair.CertFile, "error", err)
		return cf.cert, cf.names
	}
	cf.cert, cf.names, cf.stamp = cert, certNames(cert.Leaf), stamp
	cf.log.Info("tls certificate reloaded", "cert_file", cf.pair.CertFile, "not_after", cert.Leaf.NotAfter)
	if now.After(cert.Leaf.NotAfter) {
		cf.log.Warn("reloaded tls certificate has expired", "cert_file", cf.pair.CertFile, "not_after", cert.Leaf.NotAfter)
	}
	return cf.cert, cf.names
}

// stampPair returns the modification times and sizes of p's files.
func stampPair(p config.CertPair) ([2]fileStamp, error) {
	var st [2]fileStamp
	for i, f := range [2]string{p.CertFile, p.KeyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return st, err
		}
		st[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return st, nil
}

// loadPair reads and matches p's certificate and key.
func loadPair(p config.CertPair) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &cert, nil
}

// certNames returns the lowercased names SNI is matched against: the DNS
// SANs, or the subject's common name when there are none.
func certNames(leaf *x509.Certificate) []string {
	src := leaf.DNSNames
	if len(src) == 0 && leaf.Subject.CommonName != "" {
		src = []string{leaf.Subject.CommonName}
	}
	out := make([]string, len(src))
	for i, n := range src {
		out[i] = strings.ToLower(n)
	}
	return out
}

// planTLS loads server.tls's certificates, keys and client CAs, as a start
// would, and reports a file that cannot be read, a pair that does not fit
// or an expired certificate at its own key (server.tls.key_file,
// server.tls.certificates[1].cert_file). warnings name certificates that
// expire within expiryWarning.
func planTLS(t *config.TLS, log *slog.Logger, now time.Time) (st *serverTLS, warnings []string, ps config.Problems) {
	if t == nil {
		return nil, nil, nil
	}
	st = &serverTLS{certs: &certStore{now: time.Now}, minVersion: tls.VersionTLS12}
	if t.MinVersion == "1.3" {
		st.minVersion = tls.VersionTLS13
	}
	pairs, paths := t.Pairs()
	for i, p := range pairs {
		cert, pps := planPair(p, paths[i])
		if len(pps) > 0 {
			ps = append(ps, pps...)
			continue
		}
		leaf := cert.Leaf
		switch left := leaf.NotAfter.Sub(now); {
		case left <= 0:
			ps = append(ps, config.Problem{Path: paths[i] + ".cert_file", Message: fmt.Sprintf("the certificate in %s expired at %s", p.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))})
			continue
		case left < expiryWarning:
			warnings = append(warnings, fmt.Sprintf("%s.cert_file: the certificate in %s expires at %s, in %s", paths[i], p.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Minute)))
		}
		stamp, _ := stampPair(p)
		st.certs.certs = append(st.certs.certs, &certFile{pair: p, log: log, cert: cert, names: certNames(leaf), stamp: stamp, checked: now})
	}
	switch t.ClientAuth {
	case config.ClientAuthRequest:
		st.clientAuth = tls.VerifyClientCertIfGiven
	case config.ClientAuthRequire:
		st.clientAuth = tls.RequireAndVerifyClientCert
	}
	if t.ClientCAFile != "" {
		pool, err := loadCAs(t.ClientCAFile)
		if err != nil {
			ps = append(ps, config.Problem{Path: "server.tls.client_ca_file", Message: err.Error()})
		}
		st.clientCAs = pool
		var stamp fileStamp
		if fi, err := os.Stat(t.ClientCAFile); err == nil {
			stamp = fileStamp{fi.ModTime(), fi.Size()}
		}
		st.certs.cas = &caFile{file: t.ClientCAFile, log: log, pool: pool, stamp: stamp, checked: now}
	}
	if t.ACME != nil {
		ac, aps := planACME(t.ACME, log)
		ps = append(ps, aps...)
		st.acme, st.certs.acme = ac, ac
	}
	if len(ps) > 0 {
		return nil, warnings, ps
	}
	return st, warnings, nil
}

// planPair reads one certificate pair, reporting problems under path.
func planPair(p config.CertPair, path string) (*tls.Certificate, config.Problems) {
	var ps config.Problems
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		ps = append(ps, config.Problem{Path: path + ".cert_file", Message: "reading the certificate: " + fileError(err)})
	}
	keyPEM, err := os.ReadFile(p.KeyFile)
	if err != nil {
		ps = append(ps, config.Problem{Path: path + ".key_file", Message: "reading the private key: " + fileError(err)})
	}
	if len(ps) > 0 {
		return nil, ps
	}
	if !hasCertificate(certPEM) {
		return nil, config.Problems{{Path: path + ".cert_file", Message: fmt.Sprintf("%s holds no PEM certificate that parses", p.CertFile)}}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, config.Problems{{Path: path + ".key_file", Message: fmt.Sprintf("%s is not the private key of the certificate in %s: %v", p.KeyFile, p.CertFile, err)}}
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, config.Problems{{Path: path + ".cert_file", Message: fmt.Sprintf("parsing the certificate in %s: %v", p.CertFile, err)}}
		}
	}
	return &cert, nil
}

// loadCAs reads a PEM bundle of CA certificates; one that holds none that
// parses is an error.
func loadCAs(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle: %s", fileError(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate that parses", file)
	}
	return pool, nil
}
