package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
)

// acmeCerts is server.tls.acme: certificates for its domains, obtained and
// renewed by certmagic over a file storage, or the storage backend when
// shared. plan builds it with no network
// and no goroutine (planACME); start begins the certificate maintenance,
// and stop ends it.
type acmeCerts struct {
	cfg     config.ACME
	domains map[string]bool
	// roots verify the ACME directory's TLS; nil: the system roots.
	roots *x509.CertPool
	log   *slog.Logger

	// magic is set by start; handshakes before it get no ACME certificate.
	magic  atomic.Pointer[certmagic.Config]
	issuer *certmagic.ACMEIssuer
	cache  *certmagic.Cache
	http   *http.Server
	once   sync.Once
}

// planACME checks what server.tls.acme names on disk (ca_file) and returns
// the unstarted certificate source.
func planACME(a *config.ACME, log *slog.Logger) (*acmeCerts, config.Problems) {
	ac := &acmeCerts{cfg: *a, domains: map[string]bool{}, log: log}
	for _, d := range a.Domains {
		ac.domains[normalName(d)] = true
	}
	if a.CAFile != "" {
		pool, err := loadCAs(a.CAFile)
		if err != nil {
			return nil, config.Problems{{Path: "server.tls.acme.ca_file", Message: err.Error()}}
		}
		ac.roots = pool
	}
	return ac, nil
}

// renewalRatio turns renew_before into certmagic's renewal window, a
// fraction of a certificate's lifetime, for a certificate of
// config.ACMEAssumedLifetime.
func renewalRatio(before time.Duration) float64 {
	r := float64(before) / float64(config.ACMEAssumedLifetime)
	return min(max(r, 0.01), 0.99)
}

// certStorer is a store that can hold certmagic's data: the SQL stores.
type certStorer interface {
	CertStorage() certmagic.Storage
}

// acmeStorage is where certmagic keeps the account, certificates and
// locks: the storage backend st when shared is set, else the storage
// directory.
func acmeStorage(a config.ACME, st store.Store) (certmagic.Storage, error) {
	if !a.Shared {
		return &certmagic.FileStorage{Path: a.Storage}, nil
	}
	cs, ok := st.(certStorer)
	if !ok {
		return nil, errors.New("shared: the storage backend cannot hold certificates")
	}
	return cs.CertStorage(), nil
}

// start binds the HTTP-01 listener (http_listen, when set) and begins
// obtaining and renewing the certificates in the background. tlsAddr is
// the bound client listener, which answers TLS-ALPN-01 challenges; st the
// storage backend, used when server.tls.acme.shared is set.
func (ac *acmeCerts) start(ctx context.Context, tlsAddr net.Addr, st store.Store) error {
	a := ac.cfg
	storage, err := acmeStorage(a, st)
	if err != nil {
		return err
	}
	zl := zap.New(&slogCore{log: ac.log.With("component", "acme")})
	ac.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) {
			if m := ac.magic.Load(); m != nil {
				return m, nil
			}
			return nil, errors.New("acme: not started")
		},
		RenewCheckInterval: a.CheckInterval.D(),
		Logger:             zl,
	})
	magic := certmagic.New(ac.cache, certmagic.Config{
		Storage:            storage,
		RenewalWindowRatio: renewalRatio(a.RenewBefore.D()),
		// renew_before decides renewals, not the CA's renewal info.
		DisableARI:        true,
		DefaultServerName: normalName(a.Domains[0]),
		Logger:            zl,
		OnEvent: func(_ context.Context, event string, data map[string]any) error {
			switch event {
			case "cert_obtained":
				ac.log.Info("acme certificate obtained", "identifier", data["identifier"], "renewal", data["renewal"])
			case "cert_failed":
				ac.log.Warn("acme certificate not obtained", "identifier", data["identifier"], "renewal", data["renewal"], "error", fmt.Sprint(data["error"]))
			}
			return nil
		},
	})
	host, port := splitAddr(tlsAddr)
	tmpl := certmagic.ACMEIssuer{
		CA:           a.Directory,
		Email:        a.Email,
		Agreed:       true,
		TrustedRoots: ac.roots,
		// The gateway's own listeners answer the challenges: certmagic
		// finds these ports taken and starts no listener of its own.
		ListenHost:           host,
		AltTLSALPNPort:       port,
		DisableHTTPChallenge: a.HTTPListen == "",
		Logger:               zl,
	}
	var hln net.Listener
	if a.HTTPListen != "" {
		var err error
		if hln, err = net.Listen("tcp", a.HTTPListen); err != nil {
			ac.cache.Stop()
			return fmt.Errorf("server.tls.acme.http_listen: %w", err)
		}
		_, tmpl.AltHTTPPort = splitAddr(hln.Addr())
	}
	ac.issuer = certmagic.NewACMEIssuer(magic, tmpl)
	magic.Issuers = []certmagic.Issuer{ac.issuer}
	ac.magic.Store(magic)
	if hln != nil {
		ac.http = &http.Server{
			Handler:           ac.issuer.HTTPChallengeHandler(http.HandlerFunc(redirectHTTPS(port))),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			ErrorLog:          slog.NewLogLogger(ac.log.Handler(), slog.LevelDebug),
		}
		go func() {
			if err := ac.http.Serve(hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				ac.log.Error("acme http listener stopped", "error", err)
			}
		}()
	}
	return magic.ManageAsync(ctx, a.Domains)
}

// stop ends the maintenance and the HTTP-01 listener.
func (ac *acmeCerts) stop(ctx context.Context) {
	ac.once.Do(func() {
		if ac.http != nil {
			if err := ac.http.Shutdown(ctx); err != nil {
				ac.http.Close()
			}
		}
		if ac.cache != nil {
			ac.cache.Stop()
		}
	})
}

// covers says whether hello is for ACME: a TLS-ALPN-01 challenge, or a
// name among the domains.
func (ac *acmeCerts) covers(hello *tls.ClientHelloInfo) bool {
	if slices.Contains(hello.SupportedProtos, acmez.ACMETLS1Protocol) {
		return true
	}
	return ac.domains[normalName(hello.ServerName)]
}

// get returns the certificate certmagic holds for hello, or answers a
// TLS-ALPN-01 challenge.
func (ac *acmeCerts) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	m := ac.magic.Load()
	if m == nil {
		return nil, errors.New("acme certificates are not started")
	}
	// certmagic refuses a name with the trailing dot a client may send.
	if n := normalName(hello.ServerName); n != hello.ServerName {
		h := *hello
		h.ServerName = n
		hello = &h
	}
	ctx := hello.Context()
	if ctx == nil { // a hello not from a handshake
		ctx = context.Background()
	}
	return m.GetCertificateWithContext(ctx, hello)
}

func normalName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

// splitAddr returns a bound TCP address's host ("" for any) and port.
func splitAddr(a net.Addr) (string, int) {
	host, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0
	}
	port, _ := strconv.Atoi(p)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	return host, port
}

// redirectHTTPS answers a plain HTTP request that is no ACME challenge
// with a redirect to the same URL over HTTPS on tlsPort.
func redirectHTTPS(tlsPort int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if tlsPort != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(tlsPort))
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	}
}

// slogCore is a zapcore.Core writing to a slog.Logger, so certmagic's
// logs join the gateway's. Its debug logs are dropped.
type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.InfoLevel }

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, fields: append(slices.Clip(c.fields), fs...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	attrs := make([]any, 0, 2*len(enc.Fields)+2)
	if e.LoggerName != "" {
		attrs = append(attrs, "logger", e.LoggerName)
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, k, v)
	}
	level := slog.LevelInfo
	switch {
	case e.Level >= zapcore.ErrorLevel:
		level = slog.LevelError
	case e.Level == zapcore.WarnLevel:
		level = slog.LevelWarn
	}
	c.log.Log(context.Background(), level, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
