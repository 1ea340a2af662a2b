package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// validConfig is a small config that passes Validate after SetDefaults;
// each test case breaks (or stretches) one thing.
func validConfig() *Config {
	return &Config{
		Auth: Auth{JWT: []*JWT{{
			Name: "corp", JWKSURL: "https://id.example.com/.well-known/jwks.json",
			Algorithms: []string{"RS256", "ES256"},
		}}},
		Plans: map[string]*Plan{
			"free": {RateLimit: &RateLimit{Requests: 10, Per: Duration(time.Second)}},
		},
		Consumers: []*Consumer{{
			ID: "acme", Plan: "free", Groups: []string{"partners"},
			APIKeys: []APIKey{{Key: "acme-key-0123456789"}},
		}},
		Upstreams: map[string]*Upstream{
			"users":  {Targets: []*Target{{URL: "http://127.0.0.1:9101"}}},
			"orders": {Targets: []*Target{{URL: "http://127.0.0.1:9201"}}},
		},
		Routes: []*Route{{
			Name: "users", Match: Match{Path: "/users/{id}"}, Upstream: "users",
			Auth: []string{"api_key", "jwt:corp"},
		}},
	}
}

func sec(n int) Duration { return Duration(time.Duration(n) * time.Second) }

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(c *Config)
		wantPath string // "" means valid
		wantMsg  string
	}{
		{name: "valid as is", mutate: func(c *Config) {}},

		// version
		{name: "version 2", mutate: func(c *Config) { c.Version = 2 }, wantPath: "version", wantMsg: "only version 1"},

		// server
		{name: "listen without port", mutate: func(c *Config) { c.Server.Listen = "localhost" }, wantPath: "server.listen", wantMsg: "want host:port"},
		{name: "listen bad port", mutate: func(c *Config) { c.Server.Listen = ":http" }, wantPath: "server.listen", wantMsg: "port number 0-65535"},
		{name: "listen port too big", mutate: func(c *Config) { c.Server.Listen = ":70000" }, wantPath: "server.listen", wantMsg: "port number"},
		{name: "listen ipv6", mutate: func(c *Config) { c.Server.Listen = "[::1]:8443" }},
		{name: "listen bad host", mutate: func(c *Config) { c.Server.Listen = "bad host:80" }, wantPath: "server.listen", wantMsg: "IP address or host name"},
		{name: "tls complete", mutate: func(c *Config) { c.Server.TLS = &TLS{CertFile: "a.pem", KeyFile: "k.pem"} }},
		{name: "tls without key", mutate: func(c *Config) { c.Server.TLS = &TLS{CertFile: "a.pem"} }, wantPath: "server.tls.key_file", wantMsg: "required when tls is set"},
		{name: "tls without cert", mutate: func(c *Config) { c.Server.TLS = &TLS{KeyFile: "k.pem"} }, wantPath: "server.tls.cert_file", wantMsg: "required"},
		{name: "tls certificates", mutate: func(c *Config) {
			c.Server.TLS = &TLS{Certificates: []CertPair{{CertFile: "a.pem", KeyFile: "a.key"}, {CertFile: "b.pem", KeyFile: "b.key"}}, MinVersion: "1.3", ClientAuth: "require", ClientCAFile: "ca.pem"}
		}},
		{name: "tls certificate without key", mutate: func(c *Config) {
			c.Server.TLS = &TLS{Certificates: []CertPair{{CertFile: "a.pem", KeyFile: "a.key"}, {CertFile: "b.pem"}}}
		}, wantPath: "server.tls.certificates[1].key_file", wantMsg: "required"},
		{name: "tls both forms", mutate: func(c *Config) {
			c.Server.TLS = &TLS{CertFile: "a.pem", KeyFile: "a.key", Certificates: []CertPair{{CertFile: "b.pem", KeyFile: "b.key"}}}
		}, wantPath: "server.tls", wantMsg: "not both"},
		{name: "tls min version", mutate: func(c *Config) { c.Server.TLS = &TLS{CertFile: "a.pem", KeyFile: "k.pem", MinVersion: "1.1"} }, wantPath: "server.tls.min_version", wantMsg: `want "1.2" or "1.3"`},
		{name: "tls client auth unknown", mutate: func(c *Config) { c.Server.TLS = &TLS{CertFile: "a.pem", KeyFile: "k.pem", ClientAuth: "optional"} }, wantPath: "server.tls.client_auth", wantMsg: "want none, request or require"},
		{name: "tls client auth without ca", mutate: func(c *Config) { c.Server.TLS = &TLS{CertFile: "a.pem", KeyFile: "k.pem", ClientAuth: "request"} }, wantPath: "server.tls.client_ca_file", wantMsg: "required when client_auth is request"},
		{name: "acme only", mutate: func(c *Config) { c.Server.TLS = &TLS{ACME: acmeOK()} }},
		{name: "acme with files", mutate: func(c *Config) { c.Server.TLS = &TLS{CertFile: "a.pem", KeyFile: "k.pem", ACME: acmeOK()} }},
		{name: "acme without domains", mutate: func(c *Config) { c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.Domains = nil })} }, wantPath: "server.tls.acme.domains", wantMsg: "required"},
		{name: "acme wildcard", mutate: func(c *Config) {
			c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.Domains = []string{"api.example.com", "*.example.com"} })}
		}, wantPath: "server.tls.acme.domains[1]", wantMsg: "DNS-01"},
		{name: "acme ip", mutate: func(c *Config) {
			c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.Domains = []string{"192.0.2.1"} })}
		}, wantPath: "server.tls.acme.domains[0]", wantMsg: "want a DNS name"},
		{name: "acme duplicate", mutate: func(c *Config) {
			c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.Domains = []string{"api.example.com", "API.example.com."} })}
		}, wantPath: "server.tls.acme.domains[1]", wantMsg: "duplicate"},
		{name: "acme email", mutate: func(c *Config) { c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.Email = "ops" })} }, wantPath: "server.tls.acme.email", wantMsg: "email address"},
		{name: "acme directory http", mutate: func(c *Config) {
			c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.Directory = "http://ca.example/dir" })}
		}, wantPath: "server.tls.acme.directory", wantMsg: "https://"},
		{name: "acme renew_before too long", mutate: func(c *Config) {
			c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.RenewBefore = Duration(ACMEAssumedLifetime) })}
		}, wantPath: "server.tls.acme.renew_before", wantMsg: "under"},
		{name: "acme renew_before negative", mutate: func(c *Config) { c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.RenewBefore = -1 })} }, wantPath: "server.tls.acme.renew_before", wantMsg: "above 0"},
		{name: "acme check_interval", mutate: func(c *Config) { c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.CheckInterval = -1 })} }, wantPath: "server.tls.acme.check_interval", wantMsg: "positive"},
		{name: "acme http_listen", mutate: func(c *Config) { c.Server.TLS = &TLS{ACME: acmeOK(func(a *ACME) { a.HTTPListen = "80" })} }, wantPath: "server.tls.acme.http_listen", wantMsg: "host:port"},
		{name: "tls without files or acme", mutate: func(c *Config) { c.Server.TLS = &TLS{} }, wantPath: "server.tls.cert_file", wantMsg: "required"},
		{name: "mtls consumer_from", mutate: func(c *Config) { c.Auth.MTLS = &MTLSAuth{ConsumerFrom: "issuer"} }, wantPath: "auth.mtls.consumer_from", wantMsg: "want subject_cn"},
		{name: "route mtls without client auth", mutate: func(c *Config) { c.Routes[0].Auth = []string{"mtls"} }, wantPath: "routes[0].auth[0]", wantMsg: "client_auth request or require"},
		{name: "route mtls", mutate: func(c *Config) {
			c.Server.TLS = &TLS{CertFile: "a.pem", KeyFile: "k.pem", ClientAuth: "request", ClientCAFile: "ca.pem"}
			c.Routes[0].Auth = []string{"mtls"}
		}},
		{name: "trusted proxies", mutate: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1", "::1"} }},
		{name: "trusted proxy bad", mutate: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.300"} }, wantPath: "server.trusted_proxies[1]", wantMsg: "IP address or CIDR"},
		{name: "negative body limit", mutate: func(c *Config) { c.Server.Limits.MaxBodyBytes = -1 }, wantPath: "server.limits.max_body_bytes", wantMsg: "greater than zero"},
		{name: "negative idle timeout", mutate: func(c *Config) { c.Server.Limits.IdleTimeout = -1 }, wantPath: "server.limits.idle_timeout", wantMsg: "not be negative"},
		{name: "no connection bound", mutate: func(c *Config) { c.Server.Limits.MaxConnections = 0 }},
		{name: "negative connection bound", mutate: func(c *Config) { c.Server.Limits.MaxConnections = -1 }, wantPath: "server.limits.max_connections", wantMsg: "not be negative"},
		{name: "request bound", mutate: func(c *Config) { c.Server.Limits.MaxConcurrentRequests = 4096 }},
		{name: "negative drain delay", mutate: func(c *Config) { c.Server.DrainDelay = -1 }, wantPath: "server.drain_delay", wantMsg: "not be negative"},
		{name: "negative request bound", mutate: func(c *Config) { c.Server.Limits.MaxConcurrentRequests = -1 }, wantPath: "server.limits.max_concurrent_requests", wantMsg: "not be negative"},

		// admin
		{name: "admin on all interfaces without token", mutate: func(c *Config) { c.Admin.Listen = ":9080" }, wantPath: "admin.token", wantMsg: "reachable from other hosts"},
		{name: "admin on public ip without token", mutate: func(c *Config) { c.Admin.Listen = "10.1.2.3:9080" }, wantPath: "admin.token", wantMsg: "required"},
		{name: "admin on all interfaces with token", mutate: func(c *Config) { c.Admin.Listen = ":9080"; c.Admin.Token = "t" }},
		{name: "admin on localhost", mutate: func(c *Config) { c.Admin.Listen = "localhost:9080" }},
		{name: "admin on ipv6 loopback", mutate: func(c *Config) { c.Admin.Listen = "[::1]:9080" }},
		{name: "admin on 127.0.0.2", mutate: func(c *Config) { c.Admin.Listen = "127.0.0.2:9080" }},
		{name: "admin same as server", mutate: func(c *Config) { c.Admin.Listen = "127.0.0.1:8080"; c.Server.Listen = "127.0.0.1:8080" }, wantPath: "admin.listen", wantMsg: "own address"},

		// storage
		{name: "postgres", mutate: func(c *Config) {
			c.Storage = Storage{Driver: "postgres", DSN: "postgres://gantry@127.0.0.1:5432/gantry"}
		}},
		{name: "postgres keyword dsn", mutate: func(c *Config) { c.Storage = Storage{Driver: "postgres", DSN: "host=db user=gantry"} }},
		{name: "postgres without dsn", mutate: func(c *Config) { c.Storage.Driver = "postgres" }, wantPath: "storage.dsn", wantMsg: "required"},
		{name: "postgres with mysql url", mutate: func(c *Config) { c.Storage = Storage{Driver: "postgres", DSN: "mysql://x/y"} }, wantPath: "storage.dsn", wantMsg: "postgres://"},
		{name: "unknown storage driver", mutate: func(c *Config) { c.Storage.Driver = "mysql" }, wantPath: "storage.driver", wantMsg: "want sqlite or postgres"},

		// counters
		{name: "redis", mutate: func(c *Config) { c.Counters.Driver = "redis"; c.Counters.RedisURL = "rediss://cache:6380/1" }},
		{name: "redis without url", mutate: func(c *Config) { c.Counters.Driver = "redis" }, wantPath: "counters.redis_url", wantMsg: "required with driver redis"},
		{name: "redis bad url", mutate: func(c *Config) { c.Counters.Driver = "redis"; c.Counters.RedisURL = "http://cache:6379" }, wantPath: "counters.redis_url", wantMsg: "redis://"},
		{name: "unknown counters driver", mutate: func(c *Config) { c.Counters.Driver = "etcd" }, wantPath: "counters.driver", wantMsg: "want memory or redis"},
		{name: "bad on_failure", mutate: func(c *Config) { c.Counters.OnFailure = "open" }, wantPath: "counters.on_failure", wantMsg: "want allow or deny"},
		{name: "bad sync", mutate: func(c *Config) { c.Counters.Sync = "lazy" }, wantPath: "counters.sync", wantMsg: "want exact or batched"},

		// versioning
		{name: "versioning", mutate: func(c *Config) { c.Versioning = &Versioning{From: []string{"path", "header:API-Version", "query:v"}} }},
		{name: "versioning empty", mutate: func(c *Config) { c.Versioning = &Versioning{} }, wantPath: "versioning.from", wantMsg: "at least one source"},
		{name: "versioning bad source", mutate: func(c *Config) { c.Versioning = &Versioning{From: []string{"cookie:v"}} }, wantPath: "versioning.from[0]", wantMsg: "want path, header:NAME or query:NAME"},
		{name: "versioning empty header", mutate: func(c *Config) { c.Versioning = &Versioning{From: []string{"header:"}} }, wantPath: "versioning.from[0]", wantMsg: "unknown source"},
		{name: "versioning duplicate", mutate: func(c *Config) { c.Versioning = &Versioning{From: []string{"path", "path"}} }, wantPath: "versioning.from[1]", wantMsg: "listed twice"},

		// usage
		{name: "usage export", mutate: func(c *Config) { c.Usage.Export = &UsageExport{URL: "https://meter.example.com/api/v1/events"} }},
		{name: "usage export bad url", mutate: func(c *Config) { c.Usage.Export = &UsageExport{URL: "ftp://meter"} }, wantPath: "usage.export.url", wantMsg: "http:// or https://"},
		{name: "usage export without url", mutate: func(c *Config) { c.Usage.Export = &UsageExport{} }, wantPath: "usage.export.url", wantMsg: "required"},
		{name: "usage export negative batch", mutate: func(c *Config) { c.Usage.Export = &UsageExport{URL: "http://m/", BatchSize: -1} }, wantPath: "usage.export.batch_size", wantMsg: "at least 1"},
		{name: "negative flush interval", mutate: func(c *Config) { c.Usage.FlushInterval = -1 }, wantPath: "usage.flush_interval", wantMsg: "greater than zero"},

		// auth
		{name: "api key header", mutate: func(c *Config) { c.Auth.APIKey = &APIKeyAuth{Header: "X-Key", Query: "key"} }},
		{name: "api key header with space", mutate: func(c *Config) { c.Auth.APIKey = &APIKeyAuth{Header: "X Key"} }, wantPath: "auth.api_key.header", wantMsg: "header name"},
		{name: "api key header with underscore", mutate: func(c *Config) { c.Auth.APIKey = &APIKeyAuth{Header: "X_API_KEY"} }, wantPath: "auth.api_key.header", wantMsg: "use - instead"},
		{name: "api key bad query", mutate: func(c *Config) { c.Auth.APIKey = &APIKeyAuth{Query: "a&b"} }, wantPath: "auth.api_key.query", wantMsg: "plain query parameter"},
		{name: "jwt without name", mutate: func(c *Config) { c.Auth.JWT[0].Name = "" }, wantPath: "auth.jwt[0].name", wantMsg: "required"},
		{name: "jwt duplicate name", mutate: func(c *Config) {
			c.Auth.JWT = append(c.Auth.JWT, &JWT{Name: "corp", JWKSURL: "https://x/", Algorithms: []string{"RS256"}})
		}, wantPath: "auth.jwt[1].name", wantMsg: "duplicate provider name"},
		{name: "jwt two key sources", mutate: func(c *Config) { c.Auth.JWT[0].PublicKeyFile = "key.pem" }, wantPath: "auth.jwt[0]", wantMsg: "exactly one of jwks_url"},
		{name: "jwt no key source", mutate: func(c *Config) { c.Auth.JWT[0].JWKSURL = "" }, wantPath: "auth.jwt[0]", wantMsg: "exactly one of"},
		{name: "jwt jwks not http", mutate: func(c *Config) { c.Auth.JWT[0].JWKSURL = "file:///etc/jwks.json" }, wantPath: "auth.jwt[0].jwks_url", wantMsg: "http:// or https://"},
		{name: "jwt no algorithms", mutate: func(c *Config) { c.Auth.JWT[0].Algorithms = nil }, wantPath: "auth.jwt[0].algorithms", wantMsg: "required"},
		{name: "jwt none", mutate: func(c *Config) { c.Auth.JWT[0].Algorithms = []string{"none"} }, wantPath: "auth.jwt[0].algorithms[0]", wantMsg: "\"none\" is never accepted"},
		{name: "jwt None", mutate: func(c *Config) { c.Auth.JWT[0].Algorithms = []string{"RS256", "None"} }, wantPath: "auth.jwt[0].algorithms[1]", wantMsg: "never accepted"},
		{name: "jwt unknown alg", mutate: func(c *Config) { c.Auth.JWT[0].Algorithms = []string{"rs256"} }, wantPath: "auth.jwt[0].algorithms[0]", wantMsg: "unknown algorithm"},
		{name: "jwt duplicate alg", mutate: func(c *Config) { c.Auth.JWT[0].Algorithms = []string{"RS256", "RS256"} }, wantPath: "auth.jwt[0].algorithms[1]", wantMsg: "listed twice"},
		{name: "jwt hmac with jwks", mutate: func(c *Config) { c.Auth.JWT[0].Algorithms = []string{"HS256"} }, wantPath: "auth.jwt[0].algorithms[0]", wantMsg: "keyed with a public key is refused"},
		{name: "jwt rsa with secret", mutate: func(c *Config) {
			c.Auth.JWT[0] = &JWT{Name: "corp", Secret: strings.Repeat("k", 32), Algorithms: []string{"RS256"}}
		}, wantPath: "auth.jwt[0].algorithms[0]", wantMsg: "a secret serves only"},
		{name: "jwt hmac with secret", mutate: func(c *Config) {
			c.Auth.JWT[0] = &JWT{Name: "corp", Secret: strings.Repeat("k", 64), Algorithms: []string{"HS256", "HS512"}}
		}},
		{name: "jwt hmac secret too short", mutate: func(c *Config) {
			c.Auth.JWT[0] = &JWT{Name: "corp", Secret: "short", Algorithms: []string{"HS256"}}
		}, wantPath: "auth.jwt[0].secret", wantMsg: "at least 32 bytes"},
		{name: "jwt eddsa with public key", mutate: func(c *Config) {
			c.Auth.JWT[0] = &JWT{Name: "corp", PublicKeyFile: "ed.pem", Algorithms: []string{"EdDSA"}}
		}},
		{name: "jwt negative leeway", mutate: func(c *Config) { c.Auth.JWT[0].Leeway = -1 }, wantPath: "auth.jwt[0].leeway", wantMsg: "not be negative"},
		{name: "jwt forward claim bad header", mutate: func(c *Config) { c.Auth.JWT[0].ForwardClaims = map[string]string{"sub": "X User"} }, wantPath: "auth.jwt[0].forward_claims.sub", wantMsg: "header name"},

		// plans
		{name: "plan pricing", mutate: func(c *Config) {
			c.Plans["pro"] = &Plan{Quota: &Quota{Requests: 1000, Per: "month"}, Pricing: &Pricing{Currency: "EUR", MonthlyFee: "49.00", IncludedRequests: 1000, Per1000Over: "0.5"}}
		}},
		{name: "plan zero requests", mutate: func(c *Config) { c.Plans["free"].RateLimit.Requests = 0 }, wantPath: "plans.free.rate_limit.requests", wantMsg: "at least 1"},
		{name: "plan zero per", mutate: func(c *Config) { c.Plans["free"].RateLimit.Per = 0 }, wantPath: "plans.free.rate_limit.per", wantMsg: "greater than zero"},
		{name: "plan negative burst", mutate: func(c *Config) { c.Plans["free"].RateLimit.Burst = -1 }, wantPath: "plans.free.rate_limit.burst", wantMsg: "at least 1"},
		{name: "plan rate limit key", mutate: func(c *Config) { c.Plans["free"].RateLimit.Key = "ip" }, wantPath: "plans.free.rate_limit.key", wantMsg: "route rate limits only"},
		{name: "plan quota per week", mutate: func(c *Config) { c.Plans["free"].Quota = &Quota{Requests: 5, Per: "week"} }, wantPath: "plans.free.quota.per", wantMsg: "want hour, day or month"},
		{name: "plan quota zero", mutate: func(c *Config) { c.Plans["free"].Quota = &Quota{Per: "day"} }, wantPath: "plans.free.quota.requests", wantMsg: "at least 1"},
		{name: "plan currency lowercase", mutate: func(c *Config) { c.Plans["free"].Pricing = &Pricing{Currency: "usd"} }, wantPath: "plans.free.pricing.currency", wantMsg: "3-letter"},
		{name: "plan bad decimal", mutate: func(c *Config) { c.Plans["free"].Pricing = &Pricing{Currency: "USD", MonthlyFee: "4,90"} }, wantPath: "plans.free.pricing.monthly_fee", wantMsg: "plain decimal"},
		{name: "plan negative included", mutate: func(c *Config) { c.Plans["free"].Pricing = &Pricing{Currency: "USD", IncludedRequests: -1} }, wantPath: "plans.free.pricing.included_requests", wantMsg: "not be negative"},
		{name: "plan token limit and quota", mutate: func(c *Config) {
			c.Plans["pro"] = &Plan{TokenLimit: &TokenLimit{Tokens: 200000, Per: Duration(time.Minute)}, TokenQuota: &TokenQuota{Tokens: 5000000, Per: "month"},
				Pricing: &Pricing{Currency: "USD", Per1MTokens: map[string]*TokenPrice{"gpt-4.1": {Input: "2.00", Output: "8.00"}}}}
		}},
		{name: "plan token limit zero", mutate: func(c *Config) { c.Plans["free"].TokenLimit = &TokenLimit{Per: Duration(time.Minute)} }, wantPath: "plans.free.token_limit.tokens", wantMsg: "at least 1 token"},
		{name: "plan token limit no per", mutate: func(c *Config) { c.Plans["free"].TokenLimit = &TokenLimit{Tokens: 10} }, wantPath: "plans.free.token_limit.per", wantMsg: "greater than zero"},
		{name: "plan token quota per week", mutate: func(c *Config) { c.Plans["free"].TokenQuota = &TokenQuota{Tokens: 10, Per: "week"} }, wantPath: "plans.free.token_quota.per", wantMsg: "want hour, day or month"},
		{name: "plan token price bad decimal", mutate: func(c *Config) {
			c.Plans["free"].Pricing = &Pricing{Currency: "USD", Per1MTokens: map[string]*TokenPrice{"gpt-4o-mini": {Input: "0,15"}}}
		}, wantPath: "plans.free.pricing.per_1m_tokens.gpt-4o-mini.input", wantMsg: "plain decimal"},
		{name: "llm route", mutate: func(c *Config) {
			c.Routes[0].LLM = &LLM{Format: "anthropic", Models: []string{"claude-sonnet-4"}, MaxTokensDefault: 1024}
		}},
		{name: "llm no format", mutate: func(c *Config) { c.Routes[0].LLM = &LLM{} }, wantPath: "routes[0].llm.format", wantMsg: "required"},
		{name: "llm bad format", mutate: func(c *Config) { c.Routes[0].LLM = &LLM{Format: "gemini"} }, wantPath: "routes[0].llm.format", wantMsg: "openai"},
		{name: "llm duplicate model", mutate: func(c *Config) { c.Routes[0].LLM = &LLM{Format: "openai", Models: []string{"a", "a"}} }, wantPath: "routes[0].llm.models[1]", wantMsg: "duplicate model"},
		{name: "llm empty model", mutate: func(c *Config) { c.Routes[0].LLM = &LLM{Format: "openai", Models: []string{""}} }, wantPath: "routes[0].llm.models[0]", wantMsg: "not be empty"},
		{name: "llm negative max tokens", mutate: func(c *Config) { c.Routes[0].LLM = &LLM{Format: "openai", MaxTokensDefault: -1} }, wantPath: "routes[0].llm.max_tokens_default", wantMsg: "not be negative"},
		{name: "plan bad name", mutate: func(c *Config) { c.Plans["free tier"] = &Plan{} }, wantPath: "plans.free tier", wantMsg: "invalid plan name"},
		{name: "empty plan", mutate: func(c *Config) { c.Plans["trial"] = nil }},

		// consumers
		{name: "consumer without id", mutate: func(c *Config) { c.Consumers[0].ID = "" }, wantPath: "consumers[0].id", wantMsg: "required"},
		{name: "consumer bad id", mutate: func(c *Config) { c.Consumers[0].ID = "acme corp" }, wantPath: "consumers[0].id", wantMsg: "letters, digits"},
		{name: "consumer duplicate id", mutate: func(c *Config) { c.Consumers = append(c.Consumers, &Consumer{ID: "acme"}) }, wantPath: "consumers[1].id", wantMsg: "duplicate consumer id"},
		{name: "consumer unknown plan", mutate: func(c *Config) { c.Consumers[0].Plan = "gold" }, wantPath: "consumers[0].plan", wantMsg: `unknown plan "gold" (known: free)`},
		{name: "consumer group with comma", mutate: func(c *Config) { c.Consumers[0].Groups = []string{"a,b"} }, wantPath: "consumers[0].groups[0]", wantMsg: "without commas"},
		{name: "consumer empty group", mutate: func(c *Config) { c.Consumers[0].Groups = []string{""} }, wantPath: "consumers[0].groups[0]", wantMsg: "group name"},
		{name: "api key hash", mutate: func(c *Config) {
			c.Consumers[0].APIKeys = []APIKey{{Hash: "sha256:" + strings.Repeat("ab", 32)}}
		}},
		{name: "api key bad hash", mutate: func(c *Config) { c.Consumers[0].APIKeys = []APIKey{{Hash: "md5:abc"}} }, wantPath: "consumers[0].api_keys[0].hash", wantMsg: "64 hex digits"},
		{name: "api key both", mutate: func(c *Config) {
			c.Consumers[0].APIKeys = []APIKey{{Hash: "sha256:" + strings.Repeat("ab", 32), Key: "acme-key-0123456789"}}
		}, wantPath: "consumers[0].api_keys[0]", wantMsg: "exactly one of hash"},
		{name: "api key neither", mutate: func(c *Config) { c.Consumers[0].APIKeys = []APIKey{{}} }, wantPath: "consumers[0].api_keys[0]", wantMsg: "exactly one"},
		{name: "api key too short", mutate: func(c *Config) { c.Consumers[0].APIKeys = []APIKey{{Key: "short"}} }, wantPath: "consumers[0].api_keys[0].key", wantMsg: "at least 16"},
		{name: "api key given twice", mutate: func(c *Config) {
			c.Consumers = append(c.Consumers, &Consumer{ID: "globex", APIKeys: []APIKey{{Key: "acme-key-0123456789"}}})
		}, wantPath: "consumers[1].api_keys[0]", wantMsg: "already given at consumers[0].api_keys[0]"},
		{name: "api key and its hash", mutate: func(c *Config) {
			// The hash is sha256("0123456789abcdef"), upper-cased.
			c.Consumers[0].APIKeys = []APIKey{{Key: "0123456789abcdef"}}
			c.Consumers = append(c.Consumers, &Consumer{ID: "globex", APIKeys: []APIKey{{Hash: "sha256:9F9F5111F7B27A781F1F1DDDE5EBC2DD2B796BFC7365C9C28B548E564176929F"}}})
		}, wantPath: "consumers[1].api_keys[0]", wantMsg: "already given at consumers[0].api_keys[0]"},
		{name: "jwt subject twice", mutate: func(c *Config) {
			c.Consumers[0].JWTSubjects = []string{"client-acme"}
			c.Consumers = append(c.Consumers, &Consumer{ID: "globex", JWTSubjects: []string{"client-acme"}})
		}, wantPath: "consumers[1].jwt_subjects[0]", wantMsg: "already belongs to consumers[0]"},

		// upstreams
		{name: "upstream both targets and lambda", mutate: func(c *Config) {
			c.Upstreams["users"].Lambda = &Lambda{Function: "f", Region: "us-east-1"}
		}, wantPath: "upstreams.users", wantMsg: "either targets or lambda"},
		{name: "upstream neither", mutate: func(c *Config) { c.Upstreams["users"].Targets = nil }, wantPath: "upstreams.users", wantMsg: "set targets"},
		{name: "upstream protocol http1", mutate: func(c *Config) {
			c.Upstreams["users"].Protocol = "http1"
			c.Upstreams["users"].Targets = []*Target{{URL: "https://users.internal"}}
		}},
		{name: "upstream protocol auto", mutate: func(c *Config) { c.Upstreams["users"].Protocol = "auto" }},
		{name: "route ip rules", mutate: func(c *Config) {
			c.Routes[0].IP = &IPRules{Allow: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}, Deny: []string{"10.9.9.9/32"}}
		}},
		{name: "route ip bad cidr", mutate: func(c *Config) {
			c.Routes[0].IP = &IPRules{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.0.0.0/33"}}
		},
			wantPath: "routes[0].ip.deny[0]", wantMsg: "IP address or CIDR"},
		{name: "route ip empty", mutate: func(c *Config) { c.Routes[0].IP = &IPRules{} }, wantPath: "routes[0].ip", wantMsg: "set allow, deny or both"},
		{name: "upstream tls", mutate: func(c *Config) {
			c.Upstreams["users"].Targets[0].URL = "https://users.internal:8443"
			c.Upstreams["users"].TLS = &UpstreamTLS{CAFile: "ca.pem", ServerName: "users.internal", CertFile: "gw.pem", KeyFile: "gw.key"}
		}},
		{name: "upstream tls without https targets", mutate: func(c *Config) { c.Upstreams["users"].TLS = &UpstreamTLS{ServerName: "users.internal"} },
			wantPath: "upstreams.users.tls", wantMsg: "applies to https:// targets"},
		{name: "upstream tls cert without key", mutate: func(c *Config) {
			c.Upstreams["users"].Targets[0].URL = "https://users.internal:8443"
			c.Upstreams["users"].TLS = &UpstreamTLS{CertFile: "gw.pem"}
		},
			wantPath: "upstreams.users.tls.key_file", wantMsg: "required with cert_file"},
		{name: "upstream tls bad server name", mutate: func(c *Config) {
			c.Upstreams["users"].Targets[0].URL = "https://users.internal:8443"
			c.Upstreams["users"].TLS = &UpstreamTLS{ServerName: "users.internal:8443"}
		},
			wantPath: "upstreams.users.tls.server_name", wantMsg: "host name"},
		{name: "upstream protocol unknown", mutate: func(c *Config) { c.Upstreams["users"].Protocol = "h2" }, wantPath: "upstreams.users.protocol", wantMsg: "want auto or http1"},
		{name: "upstream protocol http1 with h2c", mutate: func(c *Config) {
			c.Upstreams["users"].Protocol = "http1"
			c.Upstreams["users"].Targets = []*Target{{URL: "h2c://127.0.0.1:9000"}}
		}, wantPath: "upstreams.users.targets[0].url", wantMsg: "speaks HTTP/2"},
		{name: "upstream lambda", mutate: func(c *Config) {
			c.Upstreams["thumbs"] = &Upstream{Lambda: &Lambda{Function: "thumbnailer", Region: "us-east-1", Endpoint: "http://127.0.0.1:9401"}}
		}},
		{name: "lambda payload format 1.0", mutate: func(c *Config) {
			c.Upstreams["thumbs"] = &Upstream{Lambda: &Lambda{Function: "f", Region: "us-east-1", Endpoint: "http://127.0.0.1:9401", PayloadFormat: "1.0"}}
		}},
		{name: "lambda bad payload format", mutate: func(c *Config) {
			c.Upstreams["thumbs"] = &Upstream{Lambda: &Lambda{Function: "f", Region: "us-east-1", Endpoint: "http://127.0.0.1:9401", PayloadFormat: "3"}}
		}, wantPath: "upstreams.thumbs.lambda.payload_format", wantMsg: "want \"2.0\""},
		{name: "lambda without function", mutate: func(c *Config) {
			c.Upstreams["thumbs"] = &Upstream{Lambda: &Lambda{Region: "us-east-1"}}
		}, wantPath: "upstreams.thumbs.lambda.function", wantMsg: "required"},
		{name: "lambda without region", mutate: func(c *Config) { c.Upstreams["thumbs"] = &Upstream{Lambda: &Lambda{Function: "f"}} }, wantPath: "upstreams.thumbs.lambda.region", wantMsg: "required"},
		{name: "lambda bad endpoint", mutate: func(c *Config) {
			c.Upstreams["thumbs"] = &Upstream{Lambda: &Lambda{Function: "f", Region: "us-east-1", Endpoint: "localhost:9401"}}
		}, wantPath: "upstreams.thumbs.lambda.endpoint", wantMsg: "http://"},
		{name: "lambda with health check", mutate: func(c *Config) {
			c.Upstreams["thumbs"] = &Upstream{Lambda: &Lambda{Function: "f", Region: "us-east-1"}, HealthCheck: &HealthCheck{}}
		}, wantPath: "upstreams.thumbs.health_check", wantMsg: "targets only"},
		{name: "upstream bad name", mutate: func(c *Config) { c.Upstreams["user service"] = c.Upstreams["users"] }, wantPath: "upstreams.user service", wantMsg: "invalid upstream name"},
		{name: "target https with base path", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "https://users.internal/api" }},
		{name: "target h2c", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "h2c://127.0.0.1:9101" }},
		{name: "target ftp", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "ftp://127.0.0.1" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "unsupported scheme"},
		{name: "target without scheme", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "127.0.0.1:9101" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "want http://host:port"},
		{name: "target without host", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "http:///x" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "invalid URL"},
		{name: "target with query", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "http://h/?a=1" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "query or fragment"},
		{name: "target with fragment", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "http://h/#x" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "query or fragment"},
		{name: "target with userinfo", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "http://u:p@h/" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "user:password@"},
		{name: "target port zero", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "http://h:0" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "port 1-65535"},
		{name: "target empty", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].URL = "" }, wantPath: "upstreams.users.targets[0].url", wantMsg: "required"},
		{name: "target duplicate", mutate: func(c *Config) {
			c.Upstreams["users"].Targets = append(c.Upstreams["users"].Targets, &Target{URL: "http://127.0.0.1:9101"})
		}, wantPath: "upstreams.users.targets[1].url", wantMsg: "list each target once"},
		{name: "target negative weight", mutate: func(c *Config) { c.Upstreams["users"].Targets[0].Weight = -2 }, wantPath: "upstreams.users.targets[0].weight", wantMsg: "at least 1"},
		{name: "balancer unknown", mutate: func(c *Config) { c.Upstreams["users"].Balancer = "random" }, wantPath: "upstreams.users.balancer", wantMsg: "round_robin, least_conn, p2c_ewma or hash"},
		{name: "balancer hash", mutate: func(c *Config) {
			c.Upstreams["users"].Balancer = "hash"
			c.Upstreams["users"].HashOn = "cookie:session"
		}},
		{name: "balancer hash without hash_on", mutate: func(c *Config) { c.Upstreams["users"].Balancer = "hash" }, wantPath: "upstreams.users.hash_on", wantMsg: "required with balancer hash"},
		{name: "hash_on bad", mutate: func(c *Config) { c.Upstreams["users"].Balancer = "hash"; c.Upstreams["users"].HashOn = "body" }, wantPath: "upstreams.users.hash_on", wantMsg: "header:NAME, cookie:NAME"},
		{name: "hash_on unused with round robin", mutate: func(c *Config) { c.Upstreams["users"].HashOn = "ip" }},
		{name: "health check defaults", mutate: func(c *Config) { c.Upstreams["users"].HealthCheck = &HealthCheck{} }},
		{name: "health check timeout equal to interval", mutate: func(c *Config) {
			c.Upstreams["users"].HealthCheck = &HealthCheck{Interval: sec(2), Timeout: sec(2)}
		}},
		{name: "health check timeout just under interval", mutate: func(c *Config) {
			c.Upstreams["users"].HealthCheck = &HealthCheck{Interval: sec(2), Timeout: sec(2) - 1}
		}},
		{name: "health check timeout over interval", mutate: func(c *Config) {
			c.Upstreams["users"].HealthCheck = &HealthCheck{Interval: sec(2), Timeout: sec(2) + 1}
		}, wantPath: "upstreams.users.health_check.timeout", wantMsg: "must not exceed interval 2s"},
		{name: "health check relative path", mutate: func(c *Config) { c.Upstreams["users"].HealthCheck = &HealthCheck{Path: "healthz"} }, wantPath: "upstreams.users.health_check.path", wantMsg: "starting with /"},
		{name: "health check negative threshold", mutate: func(c *Config) { c.Upstreams["users"].HealthCheck = &HealthCheck{HealthyAfter: -1} }, wantPath: "upstreams.users.health_check.healthy_after", wantMsg: "at least 1"},
		{name: "passive negative", mutate: func(c *Config) { c.Upstreams["users"].Passive = &Passive{Failures: -1} }, wantPath: "upstreams.users.passive.failures", wantMsg: "at least 1"},
		{name: "negative connect timeout", mutate: func(c *Config) { c.Upstreams["users"].Timeouts.Connect = -1 }, wantPath: "upstreams.users.timeouts.connect", wantMsg: "greater than zero"},
		{name: "retries too many", mutate: func(c *Config) { c.Upstreams["users"].Retries = 11 }, wantPath: "upstreams.users.retries", wantMsg: "0 to 10"},

		// routes
		{name: "route without name", mutate: func(c *Config) { c.Routes[0].Name = "" }, wantPath: "routes[0].name", wantMsg: "required"},
		{name: "route name with space", mutate: func(c *Config) { c.Routes[0].Name = "get users" }, wantPath: "routes[0].name", wantMsg: "letters, digits"},
		{name: "route duplicate name", mutate: func(c *Config) {
			c.Routes = append(c.Routes, &Route{Name: "users", Match: Match{PathPrefix: "/u"}, Upstream: "users"})
		}, wantPath: "routes[1].name", wantMsg: "duplicate route name \"users\" (also routes[0])"},
		{name: "route path and prefix", mutate: func(c *Config) { c.Routes[0].Match.PathPrefix = "/users" }, wantPath: "routes[0].match", wantMsg: "not both"},
		{name: "route no path", mutate: func(c *Config) { c.Routes[0].Match.Path = "" }, wantPath: "routes[0].match", wantMsg: "set path"},
		{name: "route relative path", mutate: func(c *Config) { c.Routes[0].Match.Path = "users" }, wantPath: "routes[0].match.path", wantMsg: "starting with /"},
		{name: "route relative prefix", mutate: func(c *Config) { c.Routes[0].Match.Path = ""; c.Routes[0].Match.PathPrefix = "users" }, wantPath: "routes[0].match.path_prefix", wantMsg: "starting with /"},
		{name: "route unknown upstream", mutate: func(c *Config) { c.Routes[0].Upstream = "usrs" }, wantPath: "routes[0].upstream", wantMsg: `unknown upstream "usrs" (known: orders, users)`},
		{name: "route upstream and aggregate", mutate: func(c *Config) {
			c.Routes[0].Aggregate = &Aggregate{Calls: []*AggregateCall{{Name: "u", Upstream: "users", Path: "/u"}}}
		}, wantPath: "routes[0]", wantMsg: "either upstream or aggregate"},
		{name: "route neither upstream nor aggregate", mutate: func(c *Config) { c.Routes[0].Upstream = "" }, wantPath: "routes[0]", wantMsg: "set upstream (one of: orders, users), split or aggregate"},
		{name: "route methods", mutate: func(c *Config) { c.Routes[0].Match.Methods = []string{"get", "POST", "PURGE"} }},
		{name: "route method duplicate", mutate: func(c *Config) { c.Routes[0].Match.Methods = []string{"GET", "get"} }, wantPath: "routes[0].match.methods[1]", wantMsg: "listed twice"},
		{name: "route method connect", mutate: func(c *Config) { c.Routes[0].Match.Methods = []string{"CONNECT"} }, wantPath: "routes[0].match.methods[0]", wantMsg: "not routable"},
		{name: "route method trace", mutate: func(c *Config) { c.Routes[0].Match.Methods = []string{"GET", "trace"} }, wantPath: "routes[0].match.methods[1]", wantMsg: "TRACE is not routable"},
		{name: "route method invalid", mutate: func(c *Config) { c.Routes[0].Match.Methods = []string{"GET /"} }, wantPath: "routes[0].match.methods[0]", wantMsg: "HTTP method"},
		{name: "route hosts", mutate: func(c *Config) { c.Routes[0].Match.Hosts = []string{"api.example.com", "*.example.com", "127.0.0.1"} }},
		{name: "route host with port", mutate: func(c *Config) { c.Routes[0].Match.Hosts = []string{"api.example.com:443"} }, wantPath: "routes[0].match.hosts[0]", wantMsg: "no port"},
		{name: "route host wildcard in middle", mutate: func(c *Config) { c.Routes[0].Match.Hosts = []string{"api.*.com"} }, wantPath: "routes[0].match.hosts[0]", wantMsg: "wildcard"},
		{name: "route header match", mutate: func(c *Config) { c.Routes[0].Match.Headers = map[string]string{"X-Tenant": "acme"} }},
		{name: "route header match underscore", mutate: func(c *Config) { c.Routes[0].Match.Headers = map[string]string{"X_Tenant": "acme"} }, wantPath: "routes[0].match.headers.X_Tenant", wantMsg: "dropped"},
		{name: "route header match dot", mutate: func(c *Config) { c.Routes[0].Match.Headers = map[string]string{"X.Tenant": "acme"} }, wantPath: "routes[0].match.headers.X.Tenant", wantMsg: "dropped"},
		{name: "api key header with plus", mutate: func(c *Config) { c.Auth.APIKey = &APIKeyAuth{Header: "X-Api+Key"} }, wantPath: "auth.api_key.header", wantMsg: "dropped"},
		{name: "route version without versioning", mutate: func(c *Config) { c.Routes[0].Match.Version = "v2" }, wantPath: "routes[0].match.version", wantMsg: "needs a versioning section"},
		{name: "route version with versioning", mutate: func(c *Config) {
			c.Routes[0].Match.Version = "v2"
			c.Versioning = &Versioning{From: []string{"path"}}
		}},
		{name: "route rewrite and strip", mutate: func(c *Config) { c.Routes[0].Rewrite = "/a"; c.Routes[0].StripPrefix = "/b" }, wantPath: "routes[0]", wantMsg: "either rewrite or strip_prefix"},
		{name: "route rewrite relative", mutate: func(c *Config) { c.Routes[0].Rewrite = "accounts/{id}" }, wantPath: "routes[0].rewrite", wantMsg: "starting with /"},
		{name: "route matrix params", mutate: func(c *Config) { c.Routes[0].AllowMatrixParams = true; c.Routes[0].StripPrefix = "/users" }},
		{name: "route matrix params with rewrite", mutate: func(c *Config) { c.Routes[0].AllowMatrixParams = true; c.Routes[0].Rewrite = "/accounts/{id}" }, wantPath: "routes[0].allow_matrix_params", wantMsg: "rewrite"},
		{name: "aggregate with matrix params", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].AllowMatrixParams = true }, wantPath: "routes[0].allow_matrix_params", wantMsg: "upstream routes only"},
		{name: "route strip relative", mutate: func(c *Config) { c.Routes[0].StripPrefix = "users" }, wantPath: "routes[0].strip_prefix", wantMsg: "starting with /"},
		{name: "route unknown jwt provider", mutate: func(c *Config) { c.Routes[0].Auth = []string{"jwt:partners"} }, wantPath: "routes[0].auth[0]", wantMsg: `unknown JWT provider "partners" (defined in auth.jwt: corp)`},
		{name: "external auth", mutate: func(c *Config) {
			c.Auth.External = []*ExternalAuth{{Name: "authz", URL: "http://127.0.0.1:8181/check", Timeout: Duration(time.Second), OnFailure: "deny", ResponseHeaders: []string{"X-Consumer-ID"}}}
			c.Routes[0].Auth = []string{"api_key", "external:authz"}
		}},
		{name: "external auth unknown", mutate: func(c *Config) { c.Routes[0].Auth = []string{"external:authz"} }, wantPath: "routes[0].auth[0]", wantMsg: "unknown external authorization service"},
		{name: "external auth bad url", mutate: func(c *Config) {
			c.Auth.External = []*ExternalAuth{{Name: "authz", URL: "127.0.0.1:8181", Timeout: Duration(time.Second), OnFailure: "deny"}}
		}, wantPath: "auth.external[0].url", wantMsg: "http:// or https://"},
		{name: "external auth bad on_failure", mutate: func(c *Config) {
			c.Auth.External = []*ExternalAuth{{Name: "authz", URL: "http://a/", Timeout: Duration(time.Second), OnFailure: "open"}}
		}, wantPath: "auth.external[0].on_failure", wantMsg: "deny or allow"},
		{name: "external auth negative timeout", mutate: func(c *Config) {
			c.Auth.External = []*ExternalAuth{{Name: "authz", URL: "http://a/", Timeout: -1, OnFailure: "deny"}}
		}, wantPath: "auth.external[0].timeout", wantMsg: "more than 0"},
		{name: "external auth owned response header", mutate: func(c *Config) {
			c.Auth.External = []*ExternalAuth{{Name: "authz", URL: "http://a/", Timeout: Duration(time.Second), OnFailure: "deny", ResponseHeaders: []string{"x-forwarded-for"}}}
		}, wantPath: "auth.external[0].response_headers[0]", wantMsg: "gateway's own"},
		{name: "external auth forward header with _", mutate: func(c *Config) {
			c.Auth.External = []*ExternalAuth{{Name: "authz", URL: "http://a/", Timeout: Duration(time.Second), OnFailure: "deny", ForwardHeaders: []string{"X_Token"}}}
		}, wantPath: "auth.external[0].forward_headers[0]", wantMsg: "use - instead"},
		{name: "external auth forwards a framing header", mutate: func(c *Config) {
			c.Auth.External = []*ExternalAuth{{Name: "authz", URL: "http://a/", Timeout: Duration(time.Second), OnFailure: "deny", ForwardHeaders: []string{"Authorization", "transfer-encoding"}}}
		}, wantPath: "auth.external[0].forward_headers[1]", wantMsg: "not the client's"},
		{name: "external auth duplicate", mutate: func(c *Config) {
			e := &ExternalAuth{Name: "authz", URL: "http://a/", Timeout: Duration(time.Second), OnFailure: "deny"}
			c.Auth.External = []*ExternalAuth{e, e}
		}, wantPath: "auth.external[1].name", wantMsg: "duplicate"},
		{name: "route unknown auth", mutate: func(c *Config) { c.Routes[0].Auth = []string{"basic"} }, wantPath: "routes[0].auth[0]", wantMsg: "want api_key, mtls, jwt:NAME or external:NAME"},
		{name: "route auth twice", mutate: func(c *Config) { c.Routes[0].Auth = []string{"api_key", "api_key"} }, wantPath: "routes[0].auth[1]", wantMsg: "listed twice"},
		{name: "route allow groups without auth", mutate: func(c *Config) { c.Routes[0].Auth = nil; c.Routes[0].AllowGroups = []string{"partners"} }, wantPath: "routes[0].allow_groups", wantMsg: "needs auth"},
		{name: "route rate limit", mutate: func(c *Config) { c.Routes[0].RateLimit = &RateLimit{Requests: 5, Per: sec(1), Key: "header:X-Tenant"} }},
		{name: "route rate limit zero", mutate: func(c *Config) { c.Routes[0].RateLimit = &RateLimit{Per: sec(1)} }, wantPath: "routes[0].rate_limit.requests", wantMsg: "at least 1"},
		{name: "route rate limit bad key", mutate: func(c *Config) { c.Routes[0].RateLimit = &RateLimit{Requests: 1, Per: sec(1), Key: "path"} }, wantPath: "routes[0].rate_limit.key", wantMsg: "want consumer, ip or header:NAME"},
		{name: "route rate limit consumer on public route", mutate: func(c *Config) {
			c.Routes[0].Auth = nil
			c.Routes[0].RateLimit = &RateLimit{Requests: 1, Per: sec(1), Key: "consumer"}
		}, wantPath: "routes[0].rate_limit.key", wantMsg: "use key: ip"},
		{name: "route public rate limit default key", mutate: func(c *Config) {
			c.Routes[0].Auth = nil
			c.Routes[0].RateLimit = &RateLimit{Requests: 1, Per: sec(1)}
		}},
		{name: "route header rules", mutate: func(c *Config) {
			c.Routes[0].RequestHeaders = &HeaderRules{Set: map[string]string{"X-Gateway": "gantry"}, Remove: []string{"X-Debug"}}
		}},
		{name: "route header rules bad name", mutate: func(c *Config) { c.Routes[0].ResponseHeaders = &HeaderRules{Remove: []string{"Bad Header"}} }, wantPath: "routes[0].response_headers.remove[0]", wantMsg: "header name"},
		{name: "route cors", mutate: func(c *Config) {
			c.Routes[0].CORS = &CORS{Origins: []string{"https://app.example.com", "http://localhost:3000"}, Methods: []string{"get"}, Headers: []string{"Authorization"}}
		}},
		{name: "route cors no origins", mutate: func(c *Config) { c.Routes[0].CORS = &CORS{} }, wantPath: "routes[0].cors.origins", wantMsg: "list the allowed origins"},
		{name: "route cors origin with path", mutate: func(c *Config) { c.Routes[0].CORS = &CORS{Origins: []string{"https://app.example.com/"}} }, wantPath: "routes[0].cors.origins[0]", wantMsg: "no trailing /"},
		{name: "route cors origin without scheme", mutate: func(c *Config) { c.Routes[0].CORS = &CORS{Origins: []string{"app.example.com"}} }, wantPath: "routes[0].cors.origins[0]", wantMsg: "origin like"},
		{name: "route cors star with credentials", mutate: func(c *Config) { c.Routes[0].CORS = &CORS{Origins: []string{"*"}, AllowCredentials: true} }, wantPath: "routes[0].cors.origins[0]", wantMsg: "allow_credentials"},
		{name: "route units header", mutate: func(c *Config) { c.Routes[0].UnitsHeader = "X-Usage-Units" }},
		{name: "route units header bad", mutate: func(c *Config) { c.Routes[0].UnitsHeader = "X Usage" }, wantPath: "routes[0].units_header", wantMsg: "header name"},
		{name: "route negative body limit", mutate: func(c *Config) { c.Routes[0].MaxBodyBytes = -1 }, wantPath: "routes[0].max_body_bytes", wantMsg: "not be negative"},
		{name: "route websocket limits", mutate: func(c *Config) { c.Routes[0].WebSocket = &WebSocket{IdleTimeout: sec(300), MaxLifetime: sec(3600)} }},
		{name: "route websocket without limits", mutate: func(c *Config) { c.Routes[0].WebSocket = &WebSocket{} }},
		{name: "route websocket negative idle", mutate: func(c *Config) { c.Routes[0].WebSocket = &WebSocket{IdleTimeout: -1} }, wantPath: "routes[0].websocket.idle_timeout", wantMsg: "not be negative"},
		{name: "route websocket negative lifetime", mutate: func(c *Config) { c.Routes[0].WebSocket = &WebSocket{MaxLifetime: -1} }, wantPath: "routes[0].websocket.max_lifetime", wantMsg: "not be negative"},
		{name: "route websocket on aggregate", mutate: func(c *Config) {
			c.Routes[0] = aggregateRoute()
			c.Routes[0].WebSocket = &WebSocket{IdleTimeout: sec(30)}
		}, wantPath: "routes[0].websocket", wantMsg: "upstream routes only"},

		// aggregate
		{name: "aggregate", mutate: func(c *Config) { c.Routes[0] = aggregateRoute() }},
		{name: "aggregate no calls", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].Aggregate.Calls = nil }, wantPath: "routes[0].aggregate.calls", wantMsg: "at least one call"},
		{name: "aggregate negative timeout", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].Aggregate.Timeout = -1 }, wantPath: "routes[0].aggregate.timeout", wantMsg: "greater than zero"},
		{name: "aggregate call duplicate name", mutate: func(c *Config) {
			c.Routes[0] = aggregateRoute()
			c.Routes[0].Aggregate.Calls[1].Name = "user"
		}, wantPath: "routes[0].aggregate.calls[1].name", wantMsg: "duplicate call name"},
		{name: "aggregate call dotted name", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].Aggregate.Calls[0].Name = "user.info" }, wantPath: "routes[0].aggregate.calls[0].name", wantMsg: "letters, digits and _"},
		{name: "aggregate call unknown upstream", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].Aggregate.Calls[0].Upstream = "billing" }, wantPath: "routes[0].aggregate.calls[0].upstream", wantMsg: "unknown upstream \"billing\""},
		{name: "aggregate call no upstream", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].Aggregate.Calls[0].Upstream = "" }, wantPath: "routes[0].aggregate.calls[0].upstream", wantMsg: "required"},
		{name: "aggregate call relative path", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].Aggregate.Calls[0].Path = "users" }, wantPath: "routes[0].aggregate.calls[0].path", wantMsg: "starting with /"},
		{name: "aggregate call empty select", mutate: func(c *Config) {
			c.Routes[0] = aggregateRoute()
			c.Routes[0].Aggregate.Calls[1].Select = []string{"id", ""}
		}, wantPath: "routes[0].aggregate.calls[1].select[1]", wantMsg: "must not be empty"},
		{name: "aggregate call timeout over route timeout", mutate: func(c *Config) {
			c.Routes[0] = aggregateRoute()
			c.Routes[0].Aggregate.Calls[0].Timeout = sec(10)
		}, wantPath: "routes[0].aggregate.calls[0].timeout", wantMsg: "longer than the aggregate's timeout 2s"},
		{name: "aggregate with rewrite", mutate: func(c *Config) { c.Routes[0] = aggregateRoute(); c.Routes[0].Rewrite = "/x" }, wantPath: "routes[0].rewrite", wantMsg: "upstream routes only"},

		// nil entries, as a YAML "- " or "name:" without value leaves them
		{name: "nil route", mutate: func(c *Config) { c.Routes = append(c.Routes, nil) }, wantPath: "routes[1].name", wantMsg: "required"},
		{name: "nil upstream", mutate: func(c *Config) { c.Upstreams["empty"] = nil }, wantPath: "upstreams.empty", wantMsg: "set targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tt.mutate(c)
			c.SetDefaults()
			err := c.Validate()
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Validate() = %v, want Problems", err)
			}
			for _, p := range ps {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantMsg) {
					if len(ps) > 1 {
						t.Logf("also: %v", ps)
					}
					return
				}
			}
			t.Errorf("Validate() = %v\nwant a problem at %s containing %q", err, tt.wantPath, tt.wantMsg)
		})
	}
}

func aggregateRoute() *Route {
	return &Route{
		Name:  "dashboard",
		Match: Match{Path: "/dashboard/{user_id}", Methods: []string{"GET"}},
		Auth:  []string{"api_key"},
		Aggregate: &Aggregate{Timeout: sec(2), Calls: []*AggregateCall{
			{Name: "user", Upstream: "users", Path: "/users/{user_id}"},
			{Name: "orders", Upstream: "orders", Path: "/orders?user_id={user.id}", Select: []string{"id", "total"}, Optional: true},
		}},
	}
}

func TestValidateReportsEverything(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.Version = 3
	c.Counters.Driver = "etcd"
	c.Upstreams["users"].Retries = 50
	c.Routes[0].Upstream = "usrs"
	c.Routes[0].Match.Methods = []string{"TRACE"}
	c.SetDefaults()
	var ps Problems
	if err := c.Validate(); !errors.As(err, &ps) {
		t.Fatalf("Validate() = %v, want Problems", err)
	}
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	want := []string{"counters.driver", "routes[0].match.methods[0]", "routes[0].upstream", "upstreams.users.retries", "version"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("problem paths = %v, want %v (sorted by path without lines)", paths, want)
	}
}

// acmeOK returns a valid server.tls.acme, changed by each of mods.
func acmeOK(mods ...func(*ACME)) *ACME {
	a := &ACME{Domains: []string{"api.example.com"}, Email: "ops@example.com", Directory: DefaultACMEDirectory,
		Storage: "acme", RenewBefore: Duration(DefaultACMERenewBefore), CheckInterval: Duration(DefaultACMECheckInterval)}
	for _, m := range mods {
		m(a)
	}
	return a
}
