package config

import (
	"strings"
	"time"
)

// Defaults, as documented on the config fields.
const (
	defaultListen            = ":8080"
	defaultAdminListen       = "127.0.0.1:9080"
	defaultPortalTitle       = "API portal"
	defaultMaxHeaderBytes    = Size(64 << 10)
	defaultMaxBodyBytes      = Size(10 << 20)
	defaultReadHeaderTimeout = Duration(5 * time.Second)
	defaultReadTimeout       = Duration(60 * time.Second)
	defaultIdleTimeout       = Duration(120 * time.Second)
	defaultShutdownGrace     = Duration(15 * time.Second)
	// defaultMaxConnections bounds the client connections open at once.
	defaultMaxConnections   = 10000
	defaultSQLiteDSN        = "./data/gantry.db"
	defaultBatchWindow      = Duration(50 * time.Millisecond)
	defaultFlushInterval    = Duration(time.Second)
	defaultExportBatchSize  = 500
	defaultAPIKeyHeader     = "X-API-Key"
	defaultConsumerClaim    = "sub"
	defaultExternalTimeout  = Duration(time.Second)
	defaultConnectTimeout   = Duration(2 * time.Second)
	defaultResponseTimeout  = Duration(30 * time.Second)
	DefaultAggregateTimeout = Duration(5 * time.Second)
	// DefaultWebSocketIdleTimeout applies to routes without a websocket
	// section too.
	DefaultWebSocketIdleTimeout = Duration(60 * time.Second)
)

// SetDefaults fills every setting the file left out with its documented
// default, upper-cases methods, and replaces empty (null) list and map
// entries with empty structs so later steps need no nil checks. Parse calls
// it; configs built in code should call it before Validate.
//
// A key the file sets explicitly to zero keeps its zero (Validate then says
// whether zero is allowed), so "max_body_bytes: 0" is not silently read as
// 10MiB. For configs built in code (no Lines), zero means "default".
func (c *Config) SetDefaults() {
	if c.Version == 0 && !c.has("version") {
		c.Version = 1
	}
	c.serverDefaults()
	c.backendDefaults()
	c.cacheDefaults()
	for i, j := range c.Auth.JWT {
		if j == nil {
			j = &JWT{}
			c.Auth.JWT[i] = j
		}
		if j.ConsumerClaim == "" && !c.has(index("auth.jwt", i)+".consumer_claim") {
			j.ConsumerClaim = defaultConsumerClaim
		}
	}
	for i, e := range c.Auth.External {
		if e == nil {
			e = &ExternalAuth{}
			c.Auth.External[i] = e
		}
		if e.Timeout == 0 && !c.has(index("auth.external", i)+".timeout") {
			e.Timeout = defaultExternalTimeout
		}
		if e.OnFailure == "" {
			e.OnFailure = ExternalDeny
		}
	}
	for name, p := range c.Plans {
		if p == nil {
			p = &Plan{}
			c.Plans[name] = p
		}
		c.rateLimitDefaults(p.RateLimit, "plans."+name+".rate_limit", "")
	}
	for i, co := range c.Consumers {
		if co == nil {
			c.Consumers[i] = &Consumer{}
		}
	}
	for name, u := range c.Upstreams {
		if u == nil {
			u = &Upstream{}
			c.Upstreams[name] = u
		}
		c.upstreamDefaults(u, "upstreams."+name)
	}
	usesAPIKey := false
	for i, r := range c.Routes {
		if r == nil {
			r = &Route{}
			c.Routes[i] = r
		}
		c.routeDefaults(r, index("routes", i))
		usesAPIKey = usesAPIKey || r.usesAuth("api_key")
	}
	// Routes may say "api_key" without an auth.api_key section; they get
	// the default header, and the key plugin reads it from here.
	if c.Auth.APIKey == nil && usesAPIKey {
		c.Auth.APIKey = &APIKeyAuth{}
	}
	if a := c.Auth.APIKey; a != nil && a.Header == "" && !c.has("auth.api_key.header") {
		a.Header = defaultAPIKeyHeader
	}
}

// The serving engines of HTTP/1.1 connections (server.engine).
const (
	EngineGantry  = "gantry"
	EngineNetHTTP = "net/http"
)

func (c *Config) serverDefaults() {
	s, l := &c.Server, &c.Server.Limits
	setString(c, &s.Listen, "server.listen", defaultListen)
	setSize(c, &l.MaxHeaderBytes, "server.limits.max_header_bytes", defaultMaxHeaderBytes)
	setSize(c, &l.MaxBodyBytes, "server.limits.max_body_bytes", defaultMaxBodyBytes)
	setDuration(c, &l.ReadHeaderTimeout, "server.limits.read_header_timeout", defaultReadHeaderTimeout)
	setDuration(c, &l.ReadTimeout, "server.limits.read_timeout", defaultReadTimeout)
	setDuration(c, &l.IdleTimeout, "server.limits.idle_timeout", defaultIdleTimeout)
	setInt(c, &l.MaxConnections, "server.limits.max_connections", defaultMaxConnections)
	setDuration(c, &s.ShutdownGrace, "server.shutdown_grace", defaultShutdownGrace)
	setString(c, &s.Engine, "server.engine", EngineGantry)
	setString(c, &c.Admin.Listen, "admin.listen", defaultAdminListen)
	if c.Portal != nil {
		setString(c, &c.Portal.Title, "portal.title", defaultPortalTitle)
	}
	if c.Admin.UI == nil {
		// Shown in /admin/config as what it is, not as "unset".
		on := loopbackOnly(c.Admin.Listen)
		c.Admin.UI = &on
	}
	if s.TLS != nil && s.TLS.ACME != nil {
		a := s.TLS.ACME
		setString(c, &a.Directory, "server.tls.acme.directory", DefaultACMEDirectory)
		setString(c, &a.Storage, "server.tls.acme.storage", DefaultACMEStorage)
		setDuration(c, &a.RenewBefore, "server.tls.acme.renew_before", Duration(DefaultACMERenewBefore))
		setDuration(c, &a.CheckInterval, "server.tls.acme.check_interval", Duration(DefaultACMECheckInterval))
	}
}

func (c *Config) backendDefaults() {
	setString(c, &c.Storage.Driver, "storage.driver", "sqlite")
	if c.Storage.Driver == "sqlite" {
		setString(c, &c.Storage.DSN, "storage.dsn", defaultSQLiteDSN)
	}
	k := &c.Counters
	setString(c, &k.Driver, "counters.driver", "memory")
	setString(c, &k.OnFailure, "counters.on_failure", "allow")
	setString(c, &k.Sync, "counters.sync", "exact")
	setDuration(c, &k.BatchWindow, "counters.batch_window", defaultBatchWindow)
	setString(c, &k.KeyPrefix, "counters.key_prefix", "gantry")
	setDuration(c, &c.Usage.FlushInterval, "usage.flush_interval", defaultFlushInterval)
	if e := c.Usage.Export; e != nil {
		if e.BatchSize == 0 && !c.has("usage.export.batch_size") {
			e.BatchSize = defaultExportBatchSize
		}
		setString(c, &e.SpoolDir, "usage.export.spool_dir", "./data/export-spool")
		if e.SpoolMaxBytes == 0 {
			e.SpoolMaxBytes = 1 << 30
		}
		setDuration(c, &e.Timeout, "usage.export.timeout", Duration(10*time.Second))
	}
}

// rateLimitDefaults sets burst to requests and, for a route (defKey not
// empty), the key.
func (c *Config) rateLimitDefaults(rl *RateLimit, path, defKey string) {
	if rl == nil {
		return
	}
	if rl.Burst == 0 && !c.has(path+".burst") {
		rl.Burst = rl.Requests
	}
	if defKey != "" {
		setString(c, &rl.Key, path+".key", defKey)
	}
}

func (c *Config) upstreamDefaults(u *Upstream, path string) {
	setDuration(c, &u.Timeouts.Connect, path+".timeouts.connect", defaultConnectTimeout)
	setDuration(c, &u.Timeouts.Response, path+".timeouts.response", defaultResponseTimeout)
	if u.Lambda != nil {
		setString(c, &u.Lambda.PayloadFormat, path+".lambda.payload_format", "2.0")
		return
	}
	setString(c, &u.Balancer, path+".balancer", "round_robin")
	for i, t := range u.Targets {
		if t == nil {
			t = &Target{}
			u.Targets[i] = t
		}
		if t.Weight == 0 && !c.has(index(path+".targets", i)+".weight") {
			t.Weight = 1
		}
	}
	if h := u.HealthCheck; h != nil {
		p := path + ".health_check"
		setString(c, &h.Path, p+".path", "/healthz")
		setDuration(c, &h.Interval, p+".interval", Duration(10*time.Second))
		setDuration(c, &h.Timeout, p+".timeout", Duration(2*time.Second))
		setInt(c, &h.UnhealthyAfter, p+".unhealthy_after", 3)
		setInt(c, &h.HealthyAfter, p+".healthy_after", 2)
	}
	if ps := u.Passive; ps != nil {
		setInt(c, &ps.Failures, path+".passive.failures", 5)
		setDuration(c, &ps.EjectFor, path+".passive.eject_for", Duration(30*time.Second))
	}
}

func (c *Config) routeDefaults(r *Route, path string) {
	upper(r.Match.Methods)
	// A public route has no consumer to count by.
	key := "ip"
	if len(r.Auth) > 0 {
		key = "consumer"
	}
	c.rateLimitDefaults(r.RateLimit, path+".rate_limit", key)
	c.shapingDefaults(r, path)
	if r.CORS != nil {
		upper(r.CORS.Methods)
	}
	if ws := r.WebSocket; ws != nil {
		setDuration(c, &ws.IdleTimeout, path+".websocket.idle_timeout", DefaultWebSocketIdleTimeout)
	}
	if a := r.Aggregate; a != nil {
		setDuration(c, &a.Timeout, path+".aggregate.timeout", DefaultAggregateTimeout)
		for i, call := range a.Calls {
			if call == nil {
				call = &AggregateCall{}
				a.Calls[i] = call
			}
			call.Method = strings.ToUpper(call.Method)
			setString(c, &call.Method, index(path+".aggregate.calls", i)+".method", "GET")
		}
	}
}

// usesAuth reports whether the route accepts the auth method m.
func (r *Route) usesAuth(m string) bool {
	for _, a := range r.Auth {
		if a == m {
			return true
		}
	}
	return false
}

// has reports whether the file set the key at path.
func (c *Config) has(path string) bool {
	_, ok := c.Lines[path]
	return ok
}

func setString(c *Config, v *string, path, def string) {
	if *v == "" && !c.has(path) {
		*v = def
	}
}

func setDuration(c *Config, v *Duration, path string, def Duration) {
	if *v == 0 && !c.has(path) {
		*v = def
	}
}

func setSize(c *Config, v *Size, path string, def Size) {
	if *v == 0 && !c.has(path) {
		*v = def
	}
}

func setInt(c *Config, v *int, path string, def int) {
	if *v == 0 && !c.has(path) {
		*v = def
	}
}

func upper(ss []string) {
	for i, s := range ss {
		ss[i] = strings.ToUpper(s)
	}
}
