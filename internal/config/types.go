package config

import (
	"fmt"
	"time"
)

// Config is a whole configuration file. Field comments are user documentation.
type Config struct {
	// Version is the format version; only 1 exists. Default 1.
	Version int `yaml:"version" json:"version,omitempty"`
	// Include lists more files to read, as globs relative to this file's
	// directory ("routes/*.yaml"); their lists and maps of names are
	// merged into this file's (see Load). Only the file Load is given may
	// include others.
	Include []string `yaml:"include" json:"include,omitempty"`
	Server  Server   `yaml:"server" json:"server,omitempty"`
	Admin   Admin    `yaml:"admin" json:"admin,omitempty"`
	// Portal is the consumer portal's listener; absent, there is none.
	// Changing it needs a restart. *(extension)*
	Portal     *Portal              `yaml:"portal" json:"portal,omitempty"`
	Storage    Storage              `yaml:"storage" json:"storage,omitempty"`
	Counters   Counters             `yaml:"counters" json:"counters,omitempty"`
	Versioning *Versioning          `yaml:"versioning" json:"versioning,omitempty"`
	Usage      Usage                `yaml:"usage" json:"usage,omitempty"`
	Auth       Auth                 `yaml:"auth" json:"auth,omitempty"`
	Plans      map[string]*Plan     `yaml:"plans" json:"plans,omitempty"`
	Consumers  []*Consumer          `yaml:"consumers" json:"consumers,omitempty"`
	Upstreams  map[string]*Upstream `yaml:"upstreams" json:"upstreams,omitempty"`
	Routes     []*Route             `yaml:"routes" json:"routes,omitempty"`
	// Cache is the store of the response cache. Changing it needs a
	// restart. *(extension)*
	Cache Cache `yaml:"cache" json:"cache,omitempty"`
	// Telemetry configures the gateway's own metrics and traces. Changing
	// it needs a restart.
	Telemetry Telemetry `yaml:"telemetry" json:"telemetry,omitempty"`

	// Lines maps key paths ("routes[2].upstream") to their line in the file;
	// filled by Parse, used to place validation errors.
	Lines map[string]int `yaml:"-" json:"-"`
	// File is the path the config was read from ("" when parsed from
	// bytes): a file, or the directory of a config directory.
	File string `yaml:"-" json:"-"`
	// Files maps key paths to the file that set them, when the
	// configuration was merged from several files (nil for one file).
	Files map[string]string `yaml:"-" json:"-"`

	// spans say which file each element of a merged list came from.
	spans []span
	// baseDir is what relative paths are resolved against when no file
	// of the key is known: the config file's directory, or the config
	// directory itself.
	baseDir string
}

// Server configures the client-facing listener. Changing it needs a restart.
type Server struct {
	// Listen is the client-facing address. Default ":8080".
	Listen string `yaml:"listen" json:"listen,omitempty"`
	// TLS, when set, makes Listen serve HTTPS (HTTP/2 via ALPN).
	TLS *TLS `yaml:"tls" json:"tls,omitempty"`
	// TrustedProxies lists CIDRs (or bare IPs) whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies" json:"trusted_proxies,omitempty"`
	// Limits bound what a client may send.
	Limits Limits `yaml:"limits" json:"limits,omitempty"`
	// ShutdownGrace is how long in-flight requests may finish on SIGTERM. Default 15s.
	ShutdownGrace Duration `yaml:"shutdown_grace" json:"shutdown_grace,omitempty"`
	// DrainDelay is the lame-duck period on SIGTERM: /readyz answers 503
	// at once while the client listener keeps accepting and serving (each
	// answer with Connection: close) for this long; then it closes and
	// ShutdownGrace begins. Default 0: close at once.
	DrainDelay Duration `yaml:"drain_delay" json:"drain_delay,omitempty"`
	// Engine serves HTTP/1.1 connections, plain and over TLS: "gantry"
	// (the gateway's own server, the default) or "net/http" (Go's). The
	// TLS handshake and HTTP/2 are Go's either way.
	Engine string `yaml:"engine" json:"engine,omitempty"`
}

// TLS is how the client listener terminates TLS. It names one
// certificate (cert_file and key_file) or several (certificates), never
// both. Certificate files are read again when they change on disk.
type TLS struct {
	// CertFile is the PEM certificate (chain) of the one-certificate form.
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	// KeyFile is CertFile's PEM private key.
	KeyFile string `yaml:"key_file" json:"key_file,omitempty"`
	// Certificates are chosen by the client's SNI: an exact name of a
	// certificate first, then a *.wildcard one; the first is served when
	// none matches (or no SNI is sent).
	Certificates []CertPair `yaml:"certificates" json:"certificates,omitempty"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version" json:"min_version,omitempty"`
	// ClientAuth asks clients for a certificate: "none" (default),
	// "request" (verified when sent) or "require" (refused without one).
	ClientAuth string `yaml:"client_auth" json:"client_auth,omitempty"`
	// ClientCAFile is the PEM bundle client certificates are verified
	// against; required when client_auth is request or require.
	ClientCAFile string `yaml:"client_ca_file" json:"client_ca_file,omitempty"`
	// ACME obtains and renews certificates for its domains from an ACME
	// CA; they are served beside the certificate files.
	ACME *ACME `yaml:"acme" json:"acme,omitempty"`
}

// ACME is server.tls.acme: automatic certificates for domains.
type ACME struct {
	// Domains are the names certificates are obtained for.
	Domains []string `yaml:"domains" json:"domains,omitempty"`
	// Email is the ACME account's contact address.
	Email string `yaml:"email" json:"email,omitempty"`
	// Directory is the CA's ACME directory URL. Default Let's Encrypt's.
	Directory string `yaml:"directory" json:"directory,omitempty"`
	// Storage is the directory that holds the account, certificates and
	// locks; nodes that point it at a shared volume share certificates.
	// Default "acme" beside the config file. Unused when Shared.
	Storage string `yaml:"storage" json:"storage,omitempty"`
	// Shared keeps the account, certificates and locks in the storage
	// backend (storage.driver) instead of the Storage directory, so
	// every node on the database shares them.
	Shared bool `yaml:"shared" json:"shared,omitempty"`
	// RenewBefore renews a certificate with less than this left. Default
	// 720h.
	RenewBefore Duration `yaml:"renew_before" json:"renew_before,omitempty"`
	// CheckInterval is how often certificates are checked for renewal.
	// Default 10m.
	CheckInterval Duration `yaml:"check_interval" json:"check_interval,omitempty"`
	// CAFile is a PEM bundle the ACME directory's TLS certificate is
	// verified against (a private or test CA); system roots otherwise.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// HTTPListen, when set, is a plain HTTP listener (e.g. ":80") that
	// answers HTTP-01 challenges; without it only TLS-ALPN-01 is used.
	HTTPListen string `yaml:"http_listen" json:"http_listen,omitempty"`
}

// ACME defaults.
const (
	DefaultACMEDirectory     = "https://acme-v02.api.letsencrypt.org/directory"
	DefaultACMEStorage       = "acme"
	DefaultACMERenewBefore   = 720 * time.Hour
	DefaultACMECheckInterval = 10 * time.Minute
	// ACMEAssumedLifetime is the certificate lifetime renew_before is
	// measured against (Let's Encrypt's 90 days); renew_before must be
	// shorter.
	ACMEAssumedLifetime = 90 * 24 * time.Hour
)

// CertPair is one certificate and its private key, PEM files.
type CertPair struct {
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file" json:"key_file,omitempty"`
}

// Pairs returns the certificates t serves, the one-certificate form as a
// list of one, with the key path of each in the file.
func (t *TLS) Pairs() (pairs []CertPair, paths []string) {
	if len(t.Certificates) == 0 && t.ACME != nil && t.CertFile == "" && t.KeyFile == "" {
		return nil, nil
	}
	if len(t.Certificates) == 0 {
		return []CertPair{{CertFile: t.CertFile, KeyFile: t.KeyFile}}, []string{"server.tls"}
	}
	for i, p := range t.Certificates {
		pairs = append(pairs, p)
		paths = append(paths, fmt.Sprintf("server.tls.certificates[%d]", i))
	}
	return pairs, paths
}

// server.tls.client_auth values.
const (
	ClientAuthNone    = "none"
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"
)

// Limits bounds what a client may send and how long it may take.
type Limits struct {
	// MaxHeaderBytes bounds the request header block; larger -> 431. Default 64KiB.
	MaxHeaderBytes Size `yaml:"max_header_bytes" json:"max_header_bytes,omitempty"`
	// MaxBodyBytes bounds the request body; larger -> 413. Default 10MiB.
	MaxBodyBytes Size `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// ReadHeaderTimeout bounds reading the request header. Default 5s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" json:"read_header_timeout,omitempty"`
	// ReadTimeout bounds reading a whole request, body included. Default 60s.
	ReadTimeout Duration `yaml:"read_timeout" json:"read_timeout,omitempty"`
	// WriteTimeout bounds writing a response; 0 (the default) means none, so
	// long downloads and streams are not cut.
	WriteTimeout Duration `yaml:"write_timeout" json:"write_timeout,omitempty"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout,omitempty"`
	// MaxConnections bounds the client connections open at once; a
	// connection accepted beyond it is closed at once, before anything is
	// read from it. Default 10000; 0 means no bound.
	MaxConnections int `yaml:"max_connections" json:"max_connections,omitempty"`
	// MaxConcurrentRequests bounds the requests (HTTP/2 streams included)
	// being served at once; one beyond it is answered 503 overloaded with
	// Retry-After: 1 and reaches no upstream. Default 0: no bound.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests" json:"max_concurrent_requests,omitempty"`
}

// Admin configures the admin listener.
type Admin struct {
	// Listen is the admin address. Default "127.0.0.1:9080".
	Listen string `yaml:"listen" json:"listen,omitempty"`
	// Token, when set, is required as "Authorization: Bearer <token>" on /admin/...
	// It is required when Listen is not loopback-only.
	Token string `yaml:"token" json:"token,omitempty"`
	// AllowedHosts are more names the admin API answers to in a request's
	// Host header, besides its own (the listen host, the bound address,
	// localhost, 127.0.0.1 and [::1]): "admin.example.com" (any port) or
	// "admin.example.com:8443" (that port only); IPv6 in brackets.
	// Other names get 403 on everything but /healthz, /readyz and /metrics.
	AllowedHosts []string `yaml:"allowed_hosts" json:"allowed_hosts,omitempty"`
	// AllowedOrigins are more Origin values the admin API accepts, such as
	// "https://console.example.com", besides its own origin. A request
	// with any other Origin gets 403.
	AllowedOrigins []string `yaml:"allowed_origins" json:"allowed_origins,omitempty"`
	// UI serves the operator dashboard at /ui/ on the admin listener.
	// Default: on when Listen is loopback-only, off otherwise.
	UI *bool `yaml:"ui" json:"ui,omitempty"`
}

// UIEnabled reports whether the admin listener serves the dashboard:
// admin.ui when set, else whether admin.listen is loopback-only.
func (a Admin) UIEnabled() bool {
	if a.UI != nil {
		return *a.UI
	}
	return loopbackOnly(a.Listen)
}

// Portal configures the consumer portal: a listener of its own where a
// consumer signs in with one of its API keys (or a JWT) and sees its plan,
// remaining quota, usage and invoices and manages its keys. *(extension)*
type Portal struct {
	// Listen is the portal's address, such as "127.0.0.1:9090". Required.
	Listen string `yaml:"listen" json:"listen,omitempty"`
	// Title is the pages' title and heading. Default "API portal".
	Title string `yaml:"title" json:"title,omitempty"`
	// AllowedHosts and AllowedOrigins are more Host names and Origin
	// values the portal answers, besides its own, as admin's.
	AllowedHosts   []string `yaml:"allowed_hosts" json:"allowed_hosts,omitempty"`
	AllowedOrigins []string `yaml:"allowed_origins" json:"allowed_origins,omitempty"`
	// JWT names auth.jwt providers whose tokens sign a consumer in, as
	// their subject names it on routes. Default none: API keys only.
	JWT []string `yaml:"jwt" json:"jwt,omitempty"`
}

// Storage configures where consumers, keys and usage live.
type Storage struct {
	// Driver is sqlite (default) or postgres.
	Driver string `yaml:"driver" json:"driver,omitempty"`
	// DSN is a file path for sqlite (default "./data/gantry.db"), a
	// postgres:// URL (or key=value string) for postgres.
	DSN string `yaml:"dsn" json:"dsn,omitempty"`
}

// Counters configures rate-limit and quota counters.
type Counters struct {
	// Driver is memory (default) or redis.
	Driver string `yaml:"driver" json:"driver,omitempty"`
	// RedisURL is a redis:// or rediss:// URL; required with driver redis.
	RedisURL string `yaml:"redis_url" json:"redis_url,omitempty"`
	// OnFailure is allow (default) or deny, when redis cannot be reached.
	OnFailure string `yaml:"on_failure" json:"on_failure,omitempty"`
	// Sync is exact (default: one Redis round trip per decision) or
	// batched (each node settles with Redis every BatchWindow).
	Sync string `yaml:"sync" json:"sync,omitempty"`
	// BatchWindow is how often a batched node settles. Default 50ms.
	BatchWindow Duration `yaml:"batch_window" json:"batch_window,omitempty"`
	// KeyPrefix starts every Redis key Gantry writes, so several gateways
	// (or tests) can share one Redis. Default "gantry".
	KeyPrefix string `yaml:"key_prefix" json:"key_prefix,omitempty"`
}

// Versioning says where a request's API version comes from.
type Versioning struct {
	// From lists sources, first found wins: "path", "header:NAME", "query:NAME".
	From []string `yaml:"from" json:"from,omitempty"`
	// Default is the version of a request that names none.
	Default string `yaml:"default" json:"default,omitempty"`
}

// Usage configures metering.
type Usage struct {
	// FlushInterval is how often counts reach storage. Default 1s.
	FlushInterval Duration `yaml:"flush_interval" json:"flush_interval,omitempty"`
	// Export, when set, streams usage to a billing system as CloudEvents.
	Export *UsageExport `yaml:"export" json:"export,omitempty"`
	// Retention is how long usage rows are kept; 0 keeps them forever.
	Retention Duration `yaml:"retention" json:"retention,omitempty"`
}

// UsageExport streams usage to an OpenMeter-compatible ingest URL.
type UsageExport struct {
	// URL is the http(s) batch ingest endpoint. Required.
	URL string `yaml:"url" json:"url,omitempty"`
	// BatchSize is the most events sent in one request. Default 500.
	BatchSize int `yaml:"batch_size" json:"batch_size,omitempty"`
	// SpoolDir holds events not yet delivered, relative to the config
	// file. Default "./data/export-spool".
	SpoolDir string `yaml:"spool_dir" json:"spool_dir,omitempty"`
	// SpoolMaxBytes caps the spool; beyond it the oldest events are
	// dropped (and counted). Default 1GiB.
	SpoolMaxBytes Size `yaml:"spool_max_bytes" json:"spool_max_bytes,omitempty"`
	// Timeout bounds one delivery request. Default 10s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string `yaml:"token" json:"token,omitempty"`
}

// Auth configures credential sources.
type Auth struct {
	// APIKey says where clients send API keys. When routes use api_key
	// and this is left out, it is filled in with the default header.
	APIKey *APIKeyAuth `yaml:"api_key" json:"api_key,omitempty"`
	// JWT lists token providers.
	JWT []*JWT `yaml:"jwt" json:"jwt,omitempty"`
	// MTLS maps verified client certificates to consumers, for routes
	// with auth: [mtls].
	MTLS *MTLSAuth `yaml:"mtls" json:"mtls,omitempty"`
	// External lists forward-auth services, referred to by routes as
	// external:NAME (extension).
	External []*ExternalAuth `yaml:"external" json:"external,omitempty"`
}

// ExternalAuth is one external authorization (forward-auth) service: for
// every request of a route that lists external:NAME, the gateway sends a
// GET to URL describing the request, and the service's answer decides.
type ExternalAuth struct {
	// Name is how routes refer to the service (external:NAME). Required,
	// unique.
	Name string `yaml:"name" json:"name,omitempty"`
	// URL is the service's http:// or https:// URL, asked with GET.
	URL string `yaml:"url" json:"url,omitempty"`
	// Timeout bounds one call to the service, answer body included.
	// Default 1s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// ForwardHeaders are the client's request headers sent to the service
	// (Authorization, Cookie, ...); no other client header is.
	ForwardHeaders []string `yaml:"forward_headers" json:"forward_headers,omitempty"`
	// ResponseHeaders are copied from a 2xx answer to the upstream
	// request. They are the gateway's own: a client's copies are removed
	// on every route. X-Consumer-ID, when listed, names the consumer.
	ResponseHeaders []string `yaml:"response_headers" json:"response_headers,omitempty"`
	// Cache keeps the service's 2xx and 4xx answers for this long, keyed by
	// the method, the canonical path and query, and the forwarded headers.
	// Default 0: every request asks.
	Cache Duration `yaml:"cache" json:"cache,omitempty"`
	// OnFailure is deny (default: 503 auth_unavailable) or allow, when the
	// service cannot be reached, times out or answers 5xx.
	OnFailure string `yaml:"on_failure" json:"on_failure,omitempty"`
}

// MTLSAuth says which field of a verified client certificate is the
// consumer id.
type MTLSAuth struct {
	// ConsumerFrom is subject_cn (default), san_dns, san_uri or san_email;
	// of a SAN list the first entry is used.
	ConsumerFrom string `yaml:"consumer_from" json:"consumer_from,omitempty"`
}

// auth.mtls.consumer_from values.
const (
	ConsumerFromSubjectCN = "subject_cn"
	ConsumerFromSANDNS    = "san_dns"
	ConsumerFromSANURI    = "san_uri"
	ConsumerFromSANEmail  = "san_email"
)

// APIKeyAuth says where clients send their API key.
type APIKeyAuth struct {
	// Header carrying the key. Default X-API-Key.
	Header string `yaml:"header" json:"header,omitempty"`
	// Query parameter carrying the key; empty disallows keys in URLs.
	Query string `yaml:"query" json:"query,omitempty"`
}

// JWT is one token provider, referred to by routes as jwt:NAME.
type JWT struct {
	// Name is how routes refer to the provider (jwt:NAME). Required, unique.
	Name string `yaml:"name" json:"name,omitempty"`
	// Issuer, when set, must equal the token's iss.
	Issuer string `yaml:"issuer" json:"issuer,omitempty"`
	// Audiences, when set, must include one of the token's aud.
	Audiences []string `yaml:"audiences" json:"audiences,omitempty"`
	// JWKSURL, Secret and PublicKeyFile are the key sources; set exactly
	// one. JWKSURL is an http(s) URL, fetched at start and kept fresh.
	JWKSURL string `yaml:"jwks_url" json:"jwks_url,omitempty"`
	// Secret is the HMAC key for HS256/384/512, at least as long as the
	// hash (32, 48 or 64 bytes, RFC 7518 section 3.2).
	Secret string `yaml:"secret" json:"secret,omitempty"`
	// PublicKeyFile is a PEM file holding a PUBLIC KEY or CERTIFICATE.
	PublicKeyFile string `yaml:"public_key_file" json:"public_key_file,omitempty"`
	// Algorithms are the accepted ones: HS*, RS*, PS*, ES* or EdDSA.
	// Required; "none" is always refused.
	Algorithms []string `yaml:"algorithms" json:"algorithms,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 0.
	Leeway Duration `yaml:"leeway" json:"leeway,omitempty"`
	// ConsumerClaim names the consumer (matched against jwt_subjects).
	// Default "sub".
	ConsumerClaim string `yaml:"consumer_claim" json:"consumer_claim,omitempty"`
	// ForwardClaims copies claims into request headers: {claim: Header}.
	ForwardClaims map[string]string `yaml:"forward_claims" json:"forward_claims,omitempty"`
}

// Plan is what a consumer pays for.
type Plan struct {
	RateLimit *RateLimit `yaml:"rate_limit" json:"rate_limit,omitempty"`
	Quota     *Quota     `yaml:"quota" json:"quota,omitempty"`
	// TokenLimit is a token bucket of LLM tokens per consumer, applied on
	// routes with llm. *(extension)*
	TokenLimit *TokenLimit `yaml:"token_limit" json:"token_limit,omitempty"`
	// TokenQuota is an allowance of LLM tokens per calendar period (UTC),
	// applied on routes with llm. *(extension)*
	TokenQuota *TokenQuota `yaml:"token_quota" json:"token_quota,omitempty"`
	Pricing    *Pricing    `yaml:"pricing" json:"pricing,omitempty"`
}

// TokenLimit is a bucket of Tokens LLM tokens that refills Tokens per Per.
// A request is admitted while the bucket holds at least one token; the
// tokens its answer used are taken when it ends, so the bucket can go below
// zero and then refuses until it has refilled.
type TokenLimit struct {
	Tokens int64    `yaml:"tokens" json:"tokens,omitempty"`
	Per    Duration `yaml:"per" json:"per,omitempty"`
}

// TokenQuota is an allowance of LLM tokens per calendar period (UTC).
type TokenQuota struct {
	Tokens int64 `yaml:"tokens" json:"tokens,omitempty"`
	// Per is hour, day or month.
	Per string `yaml:"per" json:"per,omitempty"`
}

// TokenPrice is the price of a million tokens of one model, by kind.
type TokenPrice struct {
	Input  Decimal `yaml:"input" json:"input,omitempty"`
	Output Decimal `yaml:"output" json:"output,omitempty"`
}

// LLM makes a route meter, limit and bill the tokens of an
// OpenAI-compatible or Anthropic-compatible API. *(extension)*
type LLM struct {
	// Format is openai or anthropic: where the model and the token usage
	// are in requests and answers.
	Format string `yaml:"format" json:"format,omitempty"`
	// Models, when set, are the only values of the request body's "model"
	// the route admits; others are answered 403 model_not_allowed.
	Models []string `yaml:"models" json:"models,omitempty"`
	// MaxTokensDefault, when above 0, is set as max_tokens on requests that
	// name none. Anthropic requires max_tokens.
	MaxTokensDefault int64 `yaml:"max_tokens_default" json:"max_tokens_default,omitempty"`
}

// RateLimit is a token bucket: Burst tokens (default Requests), refilled
// Requests per Per.
type RateLimit struct {
	Requests int      `yaml:"requests" json:"requests,omitempty"`
	Per      Duration `yaml:"per" json:"per,omitempty"`
	Burst    int      `yaml:"burst" json:"burst,omitempty"`
	// Key (routes only): consumer, ip, or header:NAME. Default consumer on
	// routes with auth, ip on public routes.
	Key string `yaml:"key" json:"key,omitempty"`
}

// Quota is a request allowance per calendar period (UTC).
type Quota struct {
	Requests int64 `yaml:"requests" json:"requests,omitempty"`
	// Per is hour, day or month.
	Per string `yaml:"per" json:"per,omitempty"`
}

// Pricing turns usage into an invoice. Amounts are decimal strings or numbers
// and are handled as exact decimals.
type Pricing struct {
	Currency         string  `yaml:"currency" json:"currency,omitempty"`
	MonthlyFee       Decimal `yaml:"monthly_fee" json:"monthly_fee,omitempty"`
	IncludedRequests int64   `yaml:"included_requests" json:"included_requests,omitempty"`
	Per1000Over      Decimal `yaml:"per_1000_over" json:"per_1000_over,omitempty"`
	Per1000Units     Decimal `yaml:"per_1000_units" json:"per_1000_units,omitempty"`
	// Per1MTokens prices a million LLM tokens by model and kind.
	// *(extension)*
	Per1MTokens map[string]*TokenPrice `yaml:"per_1m_tokens" json:"per_1m_tokens,omitempty"`
}

// Consumer is a caller known from the config file (read-only at run time).
type Consumer struct {
	// ID is sent upstream as X-Consumer-ID. Required, unique.
	ID string `yaml:"id" json:"id,omitempty"`
	// Plan names one of plans; empty for none.
	Plan string `yaml:"plan" json:"plan,omitempty"`
	// Groups are sent upstream as X-Consumer-Groups and checked against
	// routes' allow_groups.
	Groups []string `yaml:"groups" json:"groups,omitempty"`
	// APIKeys the consumer authenticates with; each key names one consumer.
	APIKeys []APIKey `yaml:"api_keys" json:"api_keys,omitempty"`
	// JWTSubjects are consumer_claim values that identify this consumer.
	JWTSubjects []string `yaml:"jwt_subjects" json:"jwt_subjects,omitempty"`
}

// APIKey is a key given either as its hash ("sha256:<hex>") or in plaintext.
type APIKey struct {
	// Hash is "sha256:" and 64 hex digits.
	Hash string `yaml:"hash" json:"hash,omitempty"`
	// Key is the plaintext key, at least 16 characters; hashed on load,
	// never logged.
	Key string `yaml:"key" json:"key,omitempty"`
}

// Upstream is a named pool of targets, or a serverless function.
type Upstream struct {
	Targets []*Target `yaml:"targets" json:"targets,omitempty"`
	// Balancer is round_robin (default), least_conn, p2c_ewma or hash.
	Balancer string `yaml:"balancer" json:"balancer,omitempty"`
	// HashOn is what balancer hash keys on: header:NAME, cookie:NAME,
	// query:NAME, ip or consumer. Required with hash, unused otherwise.
	HashOn string `yaml:"hash_on" json:"hash_on,omitempty"`
	// HealthCheck, when set, probes targets actively.
	HealthCheck *HealthCheck `yaml:"health_check" json:"health_check,omitempty"`
	// Passive, when set, ejects targets that fail live traffic.
	Passive  *Passive `yaml:"passive" json:"passive,omitempty"`
	Timeouts Timeouts `yaml:"timeouts" json:"timeouts,omitempty"`
	// Retries is how many extra attempts, on other targets, idempotent
	// requests get. Default 0.
	Retries int `yaml:"retries" json:"retries,omitempty"`
	// Lambda makes the upstream a serverless function instead of targets.
	Lambda *Lambda `yaml:"lambda" json:"lambda,omitempty"`
	// Protocol is what the targets speak: "" or ProtocolAuto (http://
	// targets HTTP/1.1, https:// targets h2 or HTTP/1.1 as ALPN decides,
	// h2c:// targets HTTP/2), or ProtocolHTTP1 (HTTP/1.1 only, over TLS
	// too; no h2c:// targets).
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// TLS configures how the gateway verifies and authenticates to the
	// upstream's https:// targets. Without it, targets are verified against
	// the system's roots under their URL's host name. *(extension)*
	TLS *UpstreamTLS `yaml:"tls" json:"tls,omitempty"`
}

// UpstreamTLS is the TLS client configuration of one upstream, applied to
// every https:// connection to its targets, from proxied requests,
// aggregate calls and health checks alike. Files are read when the
// configuration is loaded (and on every reload). *(extension)*
type UpstreamTLS struct {
	// CAFile is a PEM file of the certificate authorities the targets'
	// certificates are verified against, instead of the system's roots.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// ServerName is sent as SNI and is the name the targets' certificates
	// are verified for, instead of the host of each target's URL.
	ServerName string `yaml:"server_name" json:"server_name,omitempty"`
	// CertFile and KeyFile are the PEM client certificate (with its chain)
	// and key the gateway presents to targets that ask for one (mTLS to
	// upstreams). Set both or neither.
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file" json:"key_file,omitempty"`
	// InsecureSkipVerify accepts any certificate the targets present. For
	// tests only: it is logged as a warning at every load.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify,omitempty"`
}

// Upstream protocols.
const (
	ProtocolAuto  = "auto"
	ProtocolHTTP1 = "http1"
)

// Target is one instance of an upstream.
type Target struct {
	// URL is http://host:port (or https://, h2c://), optionally with a base path.
	URL string `yaml:"url" json:"url,omitempty"`
	// Weight for round_robin. Default 1.
	Weight int `yaml:"weight" json:"weight,omitempty"`
}

// HealthCheck configures active probing.
type HealthCheck struct {
	// Path probed with GET after the target's base path; a 2xx or 3xx
	// answer is healthy. Default "/healthz".
	Path string `yaml:"path" json:"path,omitempty"`
	// Interval between probes. Default 10s.
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
	// Timeout of one probe, shorter than Interval. Default 2s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// UnhealthyAfter consecutive failed probes take a target out. Default 3.
	UnhealthyAfter int `yaml:"unhealthy_after" json:"unhealthy_after,omitempty"`
	// HealthyAfter consecutive good probes put it back. Default 2.
	HealthyAfter int `yaml:"healthy_after" json:"healthy_after,omitempty"`
}

// Passive configures ejection from live traffic.
type Passive struct {
	// Failures is how many consecutive 5xx or connect errors eject a
	// target. Default 5.
	Failures int `yaml:"failures" json:"failures,omitempty"`
	// EjectFor is how long an ejected target gets no traffic. Default 30s.
	EjectFor Duration `yaml:"eject_for" json:"eject_for,omitempty"`
}

// Timeouts bound upstream calls.
type Timeouts struct {
	// Connect bounds dialing a target. Default 2s.
	Connect Duration `yaml:"connect" json:"connect,omitempty"`
	// Response bounds waiting for the response header. Default 30s.
	Response Duration `yaml:"response" json:"response,omitempty"`
}

// Lambda is a serverless backend (Lambda invoke API).
type Lambda struct {
	// Function is the function name or ARN. Required.
	Function string `yaml:"function" json:"function,omitempty"`
	// Region is the AWS region, like us-east-1. Required.
	Region string `yaml:"region" json:"region,omitempty"`
	// Endpoint, optional, is a Lambda-compatible http(s) endpoint (a local
	// emulator).
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// PayloadFormat is the API Gateway event format the function expects:
	// "2.0" (HTTP APIs and function URLs, the default) or "1.0" (REST APIs).
	PayloadFormat string `yaml:"payload_format" json:"payload_format,omitempty"`
}

// Route says which requests go where, and what happens on the way.
type Route struct {
	Name  string `yaml:"name" json:"name,omitempty"`
	Match Match  `yaml:"match" json:"match,omitempty"`
	// Upstream names the upstream that serves the route (unless Aggregate).
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`
	// Rewrite replaces the forwarded path; {param} takes a path parameter.
	Rewrite string `yaml:"rewrite" json:"rewrite,omitempty"`
	// StripPrefix removes this prefix from the forwarded path.
	StripPrefix string `yaml:"strip_prefix" json:"strip_prefix,omitempty"`
	// Auth lists accepted methods (api_key, jwt:NAME, mtls); every
	// credential presented must verify. external:NAME is a gate every
	// request of the route passes as well.
	Auth []string `yaml:"auth" json:"auth,omitempty"`
	// AllowGroups, when set, admits only consumers in one of these groups.
	AllowGroups []string `yaml:"allow_groups" json:"allow_groups,omitempty"`
	// RateLimit applies on top of the consumer's plan.
	RateLimit       *RateLimit   `yaml:"rate_limit" json:"rate_limit,omitempty"`
	RequestHeaders  *HeaderRules `yaml:"request_headers" json:"request_headers,omitempty"`
	ResponseHeaders *HeaderRules `yaml:"response_headers" json:"response_headers,omitempty"`
	CORS            *CORS        `yaml:"cors" json:"cors,omitempty"`
	// Aggregate serves the route by fanning out to several calls (instead
	// of Upstream).
	Aggregate *Aggregate `yaml:"aggregate" json:"aggregate,omitempty"`
	// UnitsHeader names the upstream response header carrying the billed
	// units of the request; it is not passed to the client.
	UnitsHeader string `yaml:"units_header" json:"units_header,omitempty"`
	// AllowEncodedSlash lets %2F and backslashes through in this route's paths.
	AllowEncodedSlash bool `yaml:"allow_encoded_slash" json:"allow_encoded_slash,omitempty"`
	// AllowMatrixParams lets paths with ';' parameters ("/files;v=2/a")
	// through on this route, forwarded as they came. Routes are always
	// matched without them; elsewhere such paths are answered 400.
	AllowMatrixParams bool `yaml:"allow_matrix_params" json:"allow_matrix_params,omitempty"`
	// MaxBodyBytes overrides server.limits.max_body_bytes for this route.
	MaxBodyBytes Size `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// RetryNonIdempotent lets the upstream's retries apply to POST and
	// PATCH requests of this route too. Only for endpoints that are safe to
	// repeat (they dedupe, say by an idempotency key): a retried POST may
	// run twice. Default false.
	RetryNonIdempotent bool `yaml:"retry_non_idempotent" json:"retry_non_idempotent,omitempty"`
	// WebSocket bounds the route's WebSocket connections. Without it, the
	// defaults of its fields apply.
	WebSocket *WebSocket `yaml:"websocket" json:"websocket,omitempty"`
	// IP admits or refuses requests by the client's address, before
	// authentication. *(extension)*
	IP *IPRules `yaml:"ip" json:"ip,omitempty"`
	// LLM meters, limits and bills the route's traffic by LLM tokens.
	// *(extension)*
	LLM *LLM `yaml:"llm" json:"llm,omitempty"`
	// Cache caches the route's GET and HEAD answers. *(extension)*
	Cache *RouteCache `yaml:"cache" json:"cache,omitempty"`
	// Split serves the route from several upstreams by match and weight
	// (instead of Upstream). *(extension)*
	Split []*SplitSide `yaml:"split" json:"split,omitempty"`
	// Sticky keeps a client on its side of the split. *(extension)*
	Sticky *Sticky `yaml:"sticky" json:"sticky,omitempty"`
	// Mirror copies a share of the admitted requests to another upstream.
	// *(extension)*
	Mirror *Mirror `yaml:"mirror" json:"mirror,omitempty"`
	// Transform changes JSON request and response bodies. *(extension)*
	Transform *Transform `yaml:"transform" json:"transform,omitempty"`
}

// IPRules admits or refuses a route's requests by the client's address as
// the gateway trusts it: the peer, or, behind server.trusted_proxies, the
// address they forward. A refused request is answered 403 forbidden.
// *(extension)*
type IPRules struct {
	// Allow, when not empty, admits only these addresses or CIDRs
	// ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7").
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	// Deny refuses these addresses or CIDRs; deny wins over allow.
	Deny []string `yaml:"deny" json:"deny,omitempty"`
}

// WebSocket bounds how long an upgraded connection may stay open. A
// connection past a limit is closed on both sides; the client gets a close
// frame 1001 (going away) when one can be sent cleanly.
type WebSocket struct {
	// IdleTimeout closes a connection that carried no bytes either way for
	// this long; pings and pongs count as traffic. Default 60s, as NGINX's
	// proxy_read_timeout and load balancers' idle timeouts; 0 means none.
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout,omitempty"`
	// MaxLifetime closes a connection this long after its upgrade, busy or
	// not. Default 0: none.
	MaxLifetime Duration `yaml:"max_lifetime" json:"max_lifetime,omitempty"`
}

// Match selects requests. Path and PathPrefix exclude each other.
type Match struct {
	// Hosts are exact names or "*.example.com" wildcards, matched without port.
	Hosts []string `yaml:"hosts" json:"hosts,omitempty"`
	// Path is an exact path or pattern: {name} one segment, {name...} the rest.
	Path       string `yaml:"path" json:"path,omitempty"`
	PathPrefix string `yaml:"path_prefix" json:"path_prefix,omitempty"`
	// Methods, empty for all.
	Methods []string `yaml:"methods" json:"methods,omitempty"`
	// Headers that must be present with exactly these values.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Version the route serves (needs a versioning section).
	Version string `yaml:"version" json:"version,omitempty"`
}

// HeaderRules set and remove headers.
type HeaderRules struct {
	Set    map[string]string `yaml:"set" json:"set,omitempty"`
	Add    map[string]string `yaml:"add" json:"add,omitempty"`
	Remove []string          `yaml:"remove" json:"remove,omitempty"`
}

// CORS answers preflights and decorates responses.
type CORS struct {
	// Origins allowed; "*" allows any.
	Origins          []string `yaml:"origins" json:"origins,omitempty"`
	Methods          []string `yaml:"methods" json:"methods,omitempty"`
	Headers          []string `yaml:"headers" json:"headers,omitempty"`
	ExposeHeaders    []string `yaml:"expose_headers" json:"expose_headers,omitempty"`
	AllowCredentials bool     `yaml:"allow_credentials" json:"allow_credentials,omitempty"`
	MaxAge           Duration `yaml:"max_age" json:"max_age,omitempty"`
}

// Aggregate fans one request out to several calls and merges the answers.
type Aggregate struct {
	// Timeout bounds the whole fan-out. Default 5s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Calls run in parallel unless one's path uses another's result.
	Calls []*AggregateCall `yaml:"calls" json:"calls,omitempty"`
}

// AggregateCall is one upstream call of an aggregate.
type AggregateCall struct {
	// Name is the key of the call's result in the merged object; letters,
	// digits and _.
	Name     string `yaml:"name" json:"name,omitempty"`
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`
	// Method of the call. Default GET.
	Method string `yaml:"method" json:"method,omitempty"`
	// Path template: {param} takes a path parameter of the route,
	// {call.field} a field of an earlier call's result.
	Path    string            `yaml:"path" json:"path,omitempty"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Body    string            `yaml:"body" json:"body,omitempty"`
	Select  []string          `yaml:"select" json:"select,omitempty"`
	Rename  map[string]string `yaml:"rename" json:"rename,omitempty"`
	Flatten bool              `yaml:"flatten" json:"flatten,omitempty"`
	// Optional calls that fail are left out instead of failing the request.
	Optional bool `yaml:"optional" json:"optional,omitempty"`
	// Timeout of this call; 0 (the default) means the aggregate's.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	Cache   Duration `yaml:"cache" json:"cache,omitempty"`
}

// TelemetryMetrics configures the Prometheus metrics.
type TelemetryMetrics struct {
	// RouteHistograms keeps one request duration, request size and
	// response size histogram per route (true, the default); false makes
	// every route share one of each, labelled route="(all)", which bounds
	// the series of a gateway with many routes. Request counters stay per
	// route either way.
	RouteHistograms *bool `yaml:"route_histograms" json:"route_histograms,omitempty"`
}

// RouteHistograms reports telemetry.metrics.route_histograms: true unless
// set to false.
func (c *Config) RouteHistograms() bool {
	if c.Telemetry.Metrics == nil || c.Telemetry.Metrics.RouteHistograms == nil {
		return true
	}
	return *c.Telemetry.Metrics.RouteHistograms
}
