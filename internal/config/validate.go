package config

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Validate checks c and returns Problems listing every problem found, each
// saying what would be accepted, or nil. It is pure: it reads no files and
// opens no connections. It expects defaults to have been applied (Parse
// does; configs built in code call SetDefaults first).
func (c *Config) Validate() error {
	l := &problemList{c: c}
	if c.Version != 1 {
		l.add("version", "unsupported version %d: only version 1 exists", c.Version)
	}
	c.validateServer(l)
	c.validateBackends(l)
	c.validateAuth(l)
	c.validateExternalAuth(l)
	c.validatePlans(l)
	c.validateConsumers(l)
	c.validateUpstreams(l)
	c.validateRoutes(l)
	c.validateCache(l)
	c.validateTelemetry(l)
	l.ps.Sort()
	return l.ps.Err()
}

func (c *Config) validateServer(l *problemList) {
	s := c.Server
	checkListen(l, "server.listen", s.Listen)
	if s.TLS != nil {
		c.validateTLS(l, s.TLS)
	}
	for i, p := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			l.add(index("server.trusted_proxies", i), "want an IP address or CIDR like \"10.0.0.0/8\", got %q", p)
		}
	}
	lim := s.Limits
	positive(l, "server.limits.max_header_bytes", int64(lim.MaxHeaderBytes), "a size like \"64KiB\"")
	positive(l, "server.limits.max_body_bytes", int64(lim.MaxBodyBytes), "a size like \"10MiB\"")
	positive(l, "server.limits.read_header_timeout", int64(lim.ReadHeaderTimeout), "a duration like \"5s\"")
	notNegative(l, "server.limits.read_timeout", int64(lim.ReadTimeout))
	notNegative(l, "server.limits.write_timeout", int64(lim.WriteTimeout))
	notNegative(l, "server.limits.idle_timeout", int64(lim.IdleTimeout))
	notNegative(l, "server.limits.max_connections", int64(lim.MaxConnections))
	notNegative(l, "server.limits.max_concurrent_requests", int64(lim.MaxConcurrentRequests))
	notNegative(l, "server.shutdown_grace", int64(s.ShutdownGrace))
	notNegative(l, "server.drain_delay", int64(s.DrainDelay))
	oneOf(l, "server.engine", s.Engine, EngineGantry, EngineNetHTTP)

	a := c.Admin
	checkListen(l, "admin.listen", a.Listen)
	if a.Listen != "" && a.Listen == s.Listen && !strings.HasSuffix(a.Listen, ":0") {
		l.add("admin.listen", "%q is also server.listen: give the admin API its own address", a.Listen)
	}
	if a.Token == "" && !loopbackOnly(a.Listen) {
		l.add("admin.token", "required because admin.listen %q is reachable from other hosts: set a token (token: ${GANTRY_ADMIN_TOKEN}) or listen on 127.0.0.1", a.Listen)
	}
	checkAdminOrigins(l, a)
	c.validatePortal(l)
}

func (c *Config) validateBackends(l *problemList) {
	st := c.Storage
	switch st.Driver {
	case "sqlite", "postgres":
	default:
		l.add("storage.driver", "unknown driver %q: want sqlite or postgres", st.Driver)
	}
	if st.DSN == "" {
		l.add("storage.dsn", "required: a file path for sqlite, a postgres://user@host:5432/db URL for postgres")
	} else if st.Driver == "postgres" && strings.Contains(st.DSN, "://") &&
		!strings.HasPrefix(st.DSN, "postgres://") && !strings.HasPrefix(st.DSN, "postgresql://") {
		l.add("storage.dsn", "want a postgres:// or postgresql:// URL for the postgres driver")
	}

	k := c.Counters
	switch k.Driver {
	case "memory", "redis":
	default:
		l.add("counters.driver", "unknown driver %q: want memory or redis", k.Driver)
	}
	if k.Driver == "redis" && k.RedisURL == "" {
		l.add("counters.redis_url", "required with driver redis: a redis:// or rediss:// URL")
	}
	if k.RedisURL != "" {
		if u, err := url.Parse(k.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			l.add("counters.redis_url", "want a redis://host:port/db or rediss:// URL")
		}
	}
	oneOf(l, "counters.on_failure", k.OnFailure, "allow", "deny")
	if strings.ContainsAny(k.KeyPrefix, " {}\t\r\n") {
		l.add("counters.key_prefix", "want a prefix without spaces or braces, like \"gantry\"")
	}
	oneOf(l, "counters.sync", k.Sync, "exact", "batched")
	if k.Sync == "batched" {
		positive(l, "counters.batch_window", int64(k.BatchWindow), "a duration like \"50ms\"")
	} else {
		notNegative(l, "counters.batch_window", int64(k.BatchWindow))
	}

	if v := c.Versioning; v != nil {
		if len(v.From) == 0 {
			l.add("versioning.from", "list at least one source: path, header:NAME or query:NAME")
		}
		seen := map[string]bool{}
		for i, src := range v.From {
			p := index("versioning.from", i)
			kind, name, _ := strings.Cut(src, ":")
			switch {
			case src == "path":
			case kind == "header" && isToken(name):
			case kind == "query" && name != "":
			default:
				l.add(p, "unknown source %q: want path, header:NAME or query:NAME", src)
			}
			if seen[src] {
				l.add(p, "%q is listed twice", src)
			}
			seen[src] = true
		}
	}

	u := c.Usage
	positive(l, "usage.flush_interval", int64(u.FlushInterval), "a duration like \"1s\"")
	notNegative(l, "usage.retention", int64(u.Retention))
	if e := u.Export; e != nil {
		if e.URL == "" {
			l.add("usage.export.url", "required when export is set: an http:// or https:// ingest URL")
		} else if !httpURL(e.URL) {
			l.add("usage.export.url", "want an http:// or https:// URL with a host, got %q", e.URL)
		}
		if e.BatchSize < 1 {
			l.add("usage.export.batch_size", "want at least 1, got %d", e.BatchSize)
		}
		notNegative(l, "usage.export.timeout", int64(e.Timeout))
		notNegative(l, "usage.export.spool_max_bytes", int64(e.SpoolMaxBytes))
	}
}

// jwsAlgorithms are the signature algorithms a JWT provider may accept.
var jwsAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (c *Config) validateTLS(l *problemList, t *TLS) {
	if len(t.Certificates) > 0 && (t.CertFile != "" || t.KeyFile != "") {
		l.add("server.tls", "set cert_file and key_file or certificates, not both")
	}
	pairs, paths := t.Pairs()
	for i, pr := range pairs {
		if pr.CertFile == "" {
			l.add(paths[i]+".cert_file", "required when tls is set: a PEM certificate file")
		}
		if pr.KeyFile == "" {
			l.add(paths[i]+".key_file", "required when tls is set: a PEM private key file")
		}
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		l.add("server.tls.min_version", "want \"1.2\" or \"1.3\", got %q", t.MinVersion)
	}
	switch t.ClientAuth {
	case "", ClientAuthNone:
		if t.ClientCAFile != "" {
			l.add("server.tls.client_ca_file", "unused: client_auth is none (set request or require)")
		}
	case ClientAuthRequest, ClientAuthRequire:
		if t.ClientCAFile == "" {
			l.add("server.tls.client_ca_file", "required when client_auth is %s: a PEM bundle of the CAs client certificates are verified against", t.ClientAuth)
		}
	default:
		l.add("server.tls.client_auth", "want none, request or require, got %q", t.ClientAuth)
	}
	if t.ACME != nil {
		validateACME(l, t.ACME)
	}
}

// validateACME checks server.tls.acme without touching the network.
func validateACME(l *problemList, a *ACME) {
	const p = "server.tls.acme"
	if len(a.Domains) == 0 {
		l.add(p+".domains", "required: the names certificates are obtained for")
	}
	seen := map[string]bool{}
	for i, d := range a.Domains {
		dp := index(p+".domains", i)
		n := strings.ToLower(strings.TrimSuffix(d, "."))
		switch {
		case n == "":
			l.add(dp, "empty domain")
		case strings.ContainsAny(n, "/: ") || net.ParseIP(n) != nil:
			l.add(dp, "want a DNS name, got %q", d)
		case strings.Contains(n, "*"):
			l.add(dp, "wildcard %q needs the DNS-01 challenge, which is not supported: name each domain", d)
		case seen[n]:
			l.add(dp, "duplicate domain %q", d)
		}
		seen[n] = true
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		l.add(p+".email", "want an email address, got %q", a.Email)
	}
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		l.add(p+".directory", "want the https:// URL of an ACME directory, got %q", a.Directory)
	}
	if a.Storage == "" {
		l.add(p+".storage", "required: a directory for the account and certificates")
	}
	if a.RenewBefore <= 0 || a.RenewBefore.D() >= ACMEAssumedLifetime {
		l.add(p+".renew_before", "want a duration above 0 and under %s (a 90-day certificate's lifetime), got %s", Duration(ACMEAssumedLifetime), a.RenewBefore)
	}
	if a.CheckInterval <= 0 {
		l.add(p+".check_interval", "want a positive duration, got %s", a.CheckInterval)
	}
	if a.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(a.HTTPListen); err != nil {
			l.add(p+".http_listen", "want host:port (e.g. \":80\"), got %q", a.HTTPListen)
		}
	}
}

func (c *Config) validateAuth(l *problemList) {
	if m := c.Auth.MTLS; m != nil {
		switch m.ConsumerFrom {
		case "", ConsumerFromSubjectCN, ConsumerFromSANDNS, ConsumerFromSANURI, ConsumerFromSANEmail:
		default:
			l.add("auth.mtls.consumer_from", "want subject_cn, san_dns, san_uri or san_email, got %q", m.ConsumerFrom)
		}
	}
	if a := c.Auth.APIKey; a != nil {
		checkHeaderName(l, "auth.api_key.header", a.Header, true)
		if a.Query != "" && strings.ContainsAny(a.Query, "&=#?+ %") {
			l.add("auth.api_key.query", "want a plain query parameter name like api_key, got %q", a.Query)
		}
	}
	names := map[string]string{}
	for i, j := range c.Auth.JWT {
		p := index("auth.jwt", i)
		checkRefName(l, names, p, j.Name, "provider", "jwt")
		keys := 0
		for _, s := range []string{j.JWKSURL, j.Secret, j.PublicKeyFile} {
			if s != "" {
				keys++
			}
		}
		if keys != 1 {
			l.add(p, "set exactly one of jwks_url, secret (HS*) or public_key_file")
		}
		if j.JWKSURL != "" && !httpURL(j.JWKSURL) {
			l.add(p+".jwks_url", "want an http:// or https:// URL with a host, got %q", j.JWKSURL)
		}
		if len(j.Algorithms) == 0 {
			l.add(p+".algorithms", "required: list the accepted algorithms, e.g. [RS256]; one of %s", strings.Join(jwsAlgorithms, ", "))
		}
		seen := map[string]bool{}
		for k, alg := range j.Algorithms {
			ap := index(p+".algorithms", k)
			hmac := strings.HasPrefix(alg, "HS")
			switch {
			case strings.EqualFold(alg, "none"):
				l.add(ap, "\"none\" is never accepted: tokens must be signed; want one of %s", strings.Join(jwsAlgorithms, ", "))
			case !slices.Contains(jwsAlgorithms, alg):
				l.add(ap, "unknown algorithm %q: want one of %s", alg, strings.Join(jwsAlgorithms, ", "))
			case seen[alg]:
				l.add(ap, "%s is listed twice", alg)
			case hmac && j.Secret == "" && keys > 0:
				l.add(ap, "%s needs a secret: an HMAC check keyed with a public key is refused", alg)
			case !hmac && j.Secret != "":
				l.add(ap, "%s needs jwks_url or public_key_file: a secret serves only HS256, HS384 and HS512", alg)
			case hmac && j.Secret != "":
				// RFC 7518, section 3.2: the key must be at least as long as the hash.
				if bits, _ := strconv.Atoi(alg[2:]); len(j.Secret)*8 < bits {
					l.add(p+".secret", "too short for %s: want at least %d bytes (RFC 7518, section 3.2)", alg, bits/8)
				}
			}
			seen[alg] = true
		}
		notNegative(l, p+".leeway", int64(j.Leeway))
		if j.ConsumerClaim == "" {
			l.add(p+".consumer_claim", "want the claim that names the consumer, like sub")
		}
		for k, aud := range j.Audiences {
			if aud == "" {
				l.add(index(p+".audiences", k), "must not be empty")
			}
		}
		for _, claim := range slices.Sorted(maps.Keys(j.ForwardClaims)) {
			cp := join(p+".forward_claims", claim)
			if claim == "" {
				l.add(cp, "claim name must not be empty")
			}
			checkHeaderName(l, cp, j.ForwardClaims[claim], false)
		}
	}
}

// ExternalDeny and ExternalAllow are the values of auth.external[].on_failure.
const (
	ExternalDeny  = "deny"
	ExternalAllow = "allow"
)

// externalOwned are headers that neither pass from the client to a
// forward-auth service nor from its answer to the upstream request: the
// message's framing and the gateway's own forwarding headers. X-Consumer-Id
// is allowed in an answer; it names the consumer.
var externalOwned = []string{"Connection", "Content-Length", "Transfer-Encoding", "Te", "Trailer", "Upgrade",
	"Keep-Alive", "Proxy-Connection", "Host", "X-Consumer-Groups", "X-Real-Ip", "X-Request-Id", "Proxy-Authorization",
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "Forwarded"}

func (c *Config) validateExternalAuth(l *problemList) {
	names := map[string]string{}
	for i, e := range c.Auth.External {
		p := index("auth.external", i)
		checkRefName(l, names, p, e.Name, "service", "external")
		if !httpURL(e.URL) {
			l.add(p+".url", "want an http:// or https:// URL with a host, got %q", e.URL)
		}
		if e.Timeout <= 0 {
			l.add(p+".timeout", "must be more than 0")
		}
		notNegative(l, p+".cache", int64(e.Cache))
		if e.OnFailure != ExternalDeny && e.OnFailure != ExternalAllow {
			l.add(p+".on_failure", "want deny or allow, got %q", e.OnFailure)
		}
		for k, h := range e.ForwardHeaders {
			hp := index(p+".forward_headers", k)
			checkHeaderName(l, hp, h, true)
			// The gateway's own values are sent anyway; framing is the
			// call's.
			if slices.ContainsFunc(externalOwned, func(o string) bool { return strings.EqualFold(o, h) }) {
				l.add(hp, "%s is not the client's to send: the gateway sets it on the call", h)
			}
		}
		for k, h := range e.ResponseHeaders {
			hp := index(p+".response_headers", k)
			checkHeaderName(l, hp, h, false)
			if slices.ContainsFunc(externalOwned, func(o string) bool { return strings.EqualFold(o, h) }) {
				l.add(hp, "%s is the gateway's own and cannot be set by the service", h)
			}
		}
	}
}

// checkRefName checks the name of the list entry at p, which routes refer
// to as method:NAME (a kind: provider, service), against the names seen
// so far, and records it.
func checkRefName(l *problemList, names map[string]string, p, name, kind, method string) {
	switch {
	case name == "":
		l.add(p+".name", "required: routes refer to the %s as %s:NAME", kind, method)
	case !labelRe.MatchString(name):
		l.add(p+".name", "want letters, digits, _, . or -, got %q", name)
	case names[name] != "":
		l.add(p+".name", "duplicate %s name %q (also %s)", kind, name, l.c.where(names[name]))
	default:
		names[name] = p
	}
}

// listNames lists the non-empty names of xs for a message, "none" when
// there are none.
func listNames[T any](xs []T, name func(T) string) string {
	var names []string
	for _, x := range xs {
		if n := name(x); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func externalNames(es []*ExternalAuth) string {
	return listNames(es, func(e *ExternalAuth) string { return e.Name })
}

func (c *Config) validatePlans(l *problemList) {
	for _, name := range slices.Sorted(maps.Keys(c.Plans)) {
		pl, p := c.Plans[name], "plans."+name
		if !labelRe.MatchString(name) {
			l.add(p, "invalid plan name %q: want letters, digits, _, . or -", name)
		}
		if rl := pl.RateLimit; rl != nil {
			checkRateLimit(l, p+".rate_limit", rl)
			if rl.Key != "" {
				l.add(p+".rate_limit.key", "plan limits always count per consumer; key applies to route rate limits only")
			}
		}
		if q := pl.Quota; q != nil {
			if q.Requests <= 0 {
				l.add(p+".quota.requests", "want at least 1, got %d", q.Requests)
			}
			oneOf(l, p+".quota.per", q.Per, "hour", "day", "month")
		}
		if tl := pl.TokenLimit; tl != nil {
			if tl.Tokens <= 0 {
				l.add(p+".token_limit.tokens", "want at least 1 token, got %d", tl.Tokens)
			}
			positive(l, p+".token_limit.per", int64(tl.Per), "a duration like \"1m\"")
		}
		if tq := pl.TokenQuota; tq != nil {
			if tq.Tokens <= 0 {
				l.add(p+".token_quota.tokens", "want at least 1 token, got %d", tq.Tokens)
			}
			oneOf(l, p+".token_quota.per", tq.Per, "hour", "day", "month")
		}
		if pr := pl.Pricing; pr != nil {
			pp := p + ".pricing"
			if !currencyRe.MatchString(pr.Currency) {
				l.add(pp+".currency", "want a 3-letter ISO 4217 code like USD, got %q", pr.Currency)
			}
			checkDecimal(l, pp+".monthly_fee", pr.MonthlyFee)
			checkDecimal(l, pp+".per_1000_over", pr.Per1000Over)
			checkDecimal(l, pp+".per_1000_units", pr.Per1000Units)
			if pr.IncludedRequests < 0 {
				l.add(pp+".included_requests", "must not be negative, got %d", pr.IncludedRequests)
			}
			for _, model := range slices.Sorted(maps.Keys(pr.Per1MTokens)) {
				mp := pp + ".per_1m_tokens." + model
				if model == "" {
					l.add(pp+".per_1m_tokens", "a model name must not be empty")
				}
				if tp := pr.Per1MTokens[model]; tp != nil {
					checkDecimal(l, mp+".input", tp.Input)
					checkDecimal(l, mp+".output", tp.Output)
				}
			}
		}
	}
}

func (c *Config) validateConsumers(l *problemList) {
	ids, subjects, keys := map[string]string{}, map[string]string{}, map[string]string{}
	for i, co := range c.Consumers {
		p := index("consumers", i)
		switch {
		case co.ID == "":
			l.add(p+".id", "required: the consumer's id, like acme")
		case !consumerRe.MatchString(co.ID):
			l.add(p+".id", "want letters, digits, _, ., @ or -, got %q", co.ID)
		case ids[co.ID] != "":
			l.add(p+".id", "duplicate consumer id %q (also %s)", co.ID, l.c.where(ids[co.ID]))
		default:
			ids[co.ID] = p
		}
		if co.Plan != "" && c.Plans[co.Plan] == nil {
			l.add(p+".plan", "unknown plan %q (known: %s)", co.Plan, known(c.Plans))
		}
		for k, g := range co.Groups {
			if !validGroup(g) {
				l.add(index(p+".groups", k), "want a group name without commas or spaces, got %q", g)
			}
		}
		for k, key := range co.APIKeys {
			kp := index(p+".api_keys", k)
			var digest string
			switch {
			case (key.Hash == "") == (key.Key == ""):
				l.add(kp, "set exactly one of hash (\"sha256:<64 hex digits>\") or key (plaintext, at least 16 characters)")
			case key.Hash != "":
				if !hashRe.MatchString(key.Hash) {
					l.add(kp+".hash", "want \"sha256:\" followed by 64 hex digits")
				}
				digest = strings.ToLower(key.Hash)
			default:
				if len(key.Key) < 16 {
					l.add(kp+".key", "too short: want at least 16 characters")
				}
				sum := sha256.Sum256([]byte(key.Key))
				digest = "sha256:" + hex.EncodeToString(sum[:])
			}
			if digest == "" {
				continue
			}
			// A key must name one consumer; a plaintext key and its hash
			// count as the same key.
			if prev, dup := keys[digest]; dup {
				l.add(kp, "the same API key is already given at %s", prev)
			} else {
				keys[digest] = kp
			}
		}
		for k, s := range co.JWTSubjects {
			sp := index(p+".jwt_subjects", k)
			if s == "" {
				l.add(sp, "must not be empty")
			} else if prev, dup := subjects[s]; dup {
				l.add(sp, "subject %q already belongs to %s", s, prev)
			} else {
				subjects[s] = p
			}
		}
	}
}

// validGroup reports whether g can name a group: not empty, and no comma
// or blank, since X-Consumer-Groups carries the groups joined by commas.
func validGroup(g string) bool { return g != "" && !strings.ContainsAny(g, ", \t") }

// Patterns of names and values that Validate checks, exported for the
// JSON Schema (internal/config/schema).
const (
	// NamePattern is what a name that becomes a metric label or a
	// reference may hold: routes, upstreams, plans, JWT providers,
	// external services.
	NamePattern = `^[A-Za-z0-9_.-]+$`
	// ConsumerIDPattern is what a consumer id may hold.
	ConsumerIDPattern = `^[A-Za-z0-9_.@-]+$`
	// CurrencyPattern is an ISO 4217 code.
	CurrencyPattern = `^[A-Z]{3}$`
	// KeyHashPattern is an API key given as its hash.
	KeyHashPattern = `^sha256:[0-9a-fA-F]{64}$`
)

var (
	labelRe    = regexp.MustCompile(NamePattern)
	consumerRe = regexp.MustCompile(ConsumerIDPattern)
	currencyRe = regexp.MustCompile(CurrencyPattern)
	hashRe     = regexp.MustCompile(KeyHashPattern)
)

func checkRateLimit(l *problemList, p string, rl *RateLimit) {
	if rl.Requests <= 0 {
		l.add(p+".requests", "want at least 1 request, got %d", rl.Requests)
	}
	positive(l, p+".per", int64(rl.Per), "a duration like \"1s\"")
	// With requests missing or wrong, the default burst is wrong too;
	// report requests only.
	if rl.Burst < 1 && rl.Requests > 0 {
		l.add(p+".burst", "want at least 1 (default: requests), got %d", rl.Burst)
	}
}

func checkDecimal(l *problemList, p string, d Decimal) {
	if d == "" {
		return
	}
	if _, err := parseDecimal(string(d)); err != nil {
		l.add(p, "%v", err)
	}
}

func checkListen(l *problemList, p, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if digits(addr) {
			l.add(p, "want host:port, got a bare port %q: write \":%s\" for every interface", addr, addr)
		} else {
			l.add(p, "want host:port like \":8080\" or \"127.0.0.1:8080\", got %q", addr)
		}
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		l.add(p, "want a port number 0-65535, got %q", port)
	}
	if host != "" && !validHostname(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			l.add(p, "want an IP address or host name before the port, got %q", host)
		}
	}
}

// loopbackOnly reports whether addr listens only on a loopback interface.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func positive(l *problemList, p string, v int64, want string) {
	if v <= 0 {
		l.add(p, "must be greater than zero: want %s", want)
	}
}

func notNegative(l *problemList, p string, v int64) {
	if v < 0 {
		l.add(p, "must not be negative")
	}
}

func oneOf(l *problemList, p, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		l.add(p, "unknown value %q: want %s", v, orList(allowed))
	}
}

// orList formats ["a","b","c"] as "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// known lists a map's names for "unknown X (known: ...)" messages.
func known[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none defined"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2), the
// syntax of header names and methods.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// checkHeaderName checks a header name. Names the client sends must not
// contain "_": the gateway drops such request headers, as NGINX does.
func checkHeaderName(l *problemList, p, name string, fromClient bool) {
	switch {
	case !isToken(name):
		l.add(p, "want a header name (letters, digits and -), got %q", name)
	case fromClient && strings.Contains(name, "_"):
		l.add(p, "header %q would never arrive: request headers with _ in the name are dropped; use - instead", name)
	case fromClient && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "":
		l.add(p, "header %q would never arrive: request headers with anything but letters, digits and - in the name are dropped", name)
	}
}

// httpURL reports whether s is an absolute http or https URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validHostname reports whether s is a DNS name (letters, digits, -, dots).
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
