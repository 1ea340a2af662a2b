package config

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var balancers = []string{"round_robin", "least_conn", "p2c_ewma", "hash"}

func (c *Config) validateUpstreams(l *problemList) {
	for _, name := range slices.Sorted(maps.Keys(c.Upstreams)) {
		u, p := c.Upstreams[name], "upstreams."+name
		if !labelRe.MatchString(name) {
			l.add(p, "invalid upstream name %q: want letters, digits, _, . or -", name)
		}
		switch {
		case len(u.Targets) > 0 && u.Lambda != nil:
			l.add(p, "set either targets or lambda, not both")
		case len(u.Targets) == 0 && u.Lambda == nil:
			l.add(p, "set targets (a list of {url: http://host:port}) or lambda")
		}
		seen := map[string]string{}
		for i, t := range u.Targets {
			tp := index(p+".targets", i)
			checkTargetURL(l, tp+".url", t.URL)
			if prev, dup := seen[t.URL]; dup && t.URL != "" {
				l.add(tp+".url", "%q is already %s: list each target once and use weight", t.URL, prev)
			}
			seen[t.URL] = tp
			if t.Weight < 1 {
				l.add(tp+".weight", "want at least 1, got %d", t.Weight)
			}
		}
		if u.Lambda != nil {
			c.validateLambda(l, p, u)
		} else {
			oneOf(l, p+".balancer", u.Balancer, balancers...)
		}
		// hash_on with another balancer is allowed and unused, so a
		// balancer can be switched without deleting it (the contract's
		// example does this).
		switch {
		case u.Balancer == "hash" && u.HashOn == "":
			l.add(p+".hash_on", "required with balancer hash: header:NAME, cookie:NAME, query:NAME, ip or consumer")
		case u.HashOn != "" && !validHashOn(u.HashOn):
			l.add(p+".hash_on", "unknown value %q: want header:NAME, cookie:NAME, query:NAME, ip or consumer", u.HashOn)
		}
		if h := u.HealthCheck; h != nil {
			hp := p + ".health_check"
			if !strings.HasPrefix(h.Path, "/") {
				l.add(hp+".path", "want a path starting with /, like /healthz, got %q", h.Path)
			}
			positive(l, hp+".interval", int64(h.Interval), "a duration like \"10s\"")
			positive(l, hp+".timeout", int64(h.Timeout), "a duration like \"2s\"")
			if h.Timeout > 0 && h.Interval > 0 && h.Timeout > h.Interval {
				l.add(hp+".timeout", "%s must not exceed interval %s", h.Timeout, h.Interval)
			}
			atLeastOne(l, hp+".unhealthy_after", h.UnhealthyAfter)
			atLeastOne(l, hp+".healthy_after", h.HealthyAfter)
		}
		if ps := u.Passive; ps != nil {
			atLeastOne(l, p+".passive.failures", ps.Failures)
			positive(l, p+".passive.eject_for", int64(ps.EjectFor), "a duration like \"30s\"")
		}
		positive(l, p+".timeouts.connect", int64(u.Timeouts.Connect), "a duration like \"2s\"")
		positive(l, p+".timeouts.response", int64(u.Timeouts.Response), "a duration like \"30s\"")
		if u.Retries < 0 || u.Retries > 10 {
			l.add(p+".retries", "want 0 to 10 extra attempts, got %d", u.Retries)
		}
		switch u.Protocol {
		case "", ProtocolAuto:
		case ProtocolHTTP1:
			if u.Lambda != nil {
				l.add(p+".protocol", "applies to targets, not to a lambda function")
			}
			for i, t := range u.Targets {
				if t != nil && strings.HasPrefix(strings.ToLower(t.URL), "h2c:") {
					l.add(fmt.Sprintf("%s.targets[%d].url", p, i), "an h2c:// target speaks HTTP/2, not protocol http1")
				}
			}
		default:
			l.add(p+".protocol", "want auto or http1, got %q", u.Protocol)
		}
		checkUpstreamTLS(l, p, u)
	}
}

func (c *Config) validateLambda(l *problemList, p string, u *Upstream) {
	lp := p + ".lambda"
	if u.Lambda.Function == "" {
		l.add(lp+".function", "required: the function name or ARN")
	}
	if u.Lambda.Region == "" {
		l.add(lp+".region", "required: the AWS region, like us-east-1")
	} else if !regionRe.MatchString(u.Lambda.Region) {
		l.add(lp+".region", "want a region like us-east-1, got %q", u.Lambda.Region)
	}
	if e := u.Lambda.Endpoint; e != "" && !httpURL(e) {
		l.add(lp+".endpoint", "want an http:// or https:// URL with a host, got %q", e)
	}
	switch f := u.Lambda.PayloadFormat; f {
	case "", "1.0", "2.0":
	default:
		l.add(lp+".payload_format", `want "2.0" (HTTP API, function URLs) or "1.0" (REST API), got %q`, f)
	}
	for key, set := range map[string]bool{
		"balancer": u.Balancer != "", "health_check": u.HealthCheck != nil, "passive": u.Passive != nil,
	} {
		if set {
			l.add(p+"."+key, "applies to targets only, not to a lambda upstream")
		}
	}
}

var regionRe = regexp.MustCompile(`^[a-z0-9-]+$`)

func validHashOn(s string) bool {
	if s == "ip" || s == "consumer" {
		return true
	}
	kind, name, ok := strings.Cut(s, ":")
	switch kind {
	case "header":
		return ok && isToken(name)
	case "cookie", "query":
		return ok && name != ""
	}
	return false
}

// checkTargetURL accepts http, https and h2c URLs with a host and an
// optional base path.
func checkTargetURL(l *problemList, p, raw string) {
	const want = "want http://host:port, https://host or h2c://host:port, optionally with a base path"
	if raw == "" {
		l.add(p, "required: %s", want)
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		l.add(p, "invalid URL %q: %s", raw, want)
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c":
		l.add(p, "unsupported scheme %q: %s", u.Scheme, want)
	case u.User != nil:
		l.add(p, "user:password@ is not allowed in a target URL: set an Authorization header with request_headers instead")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		l.add(p, "a target URL cannot carry a query or fragment: %s", want)
	default:
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				l.add(p, "want a port 1-65535, got %q", port)
			}
		}
	}
}

var (
	// callNameRe: call names are JSON keys and appear in path templates as
	// {name.field}, so they hold no dots.
	callNameRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	originRe    = regexp.MustCompile(`^https?://[^/?#@\s]+$`)
	refusedVerb = map[string]string{
		"CONNECT": "the gateway answers CONNECT with 405",
		"TRACE":   "it would echo credentials back to scripts (cross-site tracing)",
	}
)

func (c *Config) validateRoutes(l *problemList) {
	names := map[string]string{}
	for i, r := range c.Routes {
		p := index("routes", i)
		switch {
		case r.Name == "":
			l.add(p+".name", "required: a name for metrics and logs, like users")
		case !labelRe.MatchString(r.Name):
			l.add(p+".name", "want letters, digits, _, . or -, got %q", r.Name)
		case names[r.Name] != "":
			l.add(p+".name", "duplicate route name %q (also %s)", r.Name, l.c.where(names[r.Name]))
		default:
			names[r.Name] = p
		}
		c.validateMatch(l, p+".match", &r.Match)

		switch {
		case r.Split != nil:
			// validateShaping checks the split.
		case r.Upstream != "" && r.Aggregate != nil:
			l.add(p, "set either upstream or aggregate, not both")
		case r.Upstream == "" && r.Aggregate == nil:
			l.add(p, "set upstream (one of: %s), split or aggregate", known(c.Upstreams))
		case r.Upstream != "":
			c.checkUpstreamRef(l, p+".upstream", r.Upstream)
		}
		if r.RetryNonIdempotent && r.Aggregate != nil {
			l.add(p+".retry_non_idempotent", "applies to upstream routes only; aggregate calls are not retried")
		}
		if r.Rewrite != "" && r.StripPrefix != "" {
			l.add(p, "set either rewrite or strip_prefix, not both")
		}
		if r.AllowMatrixParams {
			switch {
			case r.Aggregate != nil:
				l.add(p+".allow_matrix_params", "applies to upstream routes only; aggregate calls name their own paths")
			case r.Rewrite != "":
				l.add(p+".allow_matrix_params", "cannot be combined with rewrite, which builds the forwarded path from parameters that never hold matrix parameters; use strip_prefix or no rewrite")
			}
		}
		for key, v := range map[string]string{"rewrite": r.Rewrite, "strip_prefix": r.StripPrefix} {
			switch {
			case v == "":
			case r.Aggregate != nil:
				l.add(p+"."+key, "applies to upstream routes only; aggregate calls name their own paths")
			case !strings.HasPrefix(v, "/"):
				l.add(p+"."+key, "want a path starting with /, got %q", v)
			}
		}
		c.validateRouteAuth(l, p, r)
		if rl := r.RateLimit; rl != nil {
			checkRateLimit(l, p+".rate_limit", rl)
			switch kind, name, _ := strings.Cut(rl.Key, ":"); {
			case rl.Key == "ip":
			case rl.Key == "consumer":
				if len(r.Auth) == 0 {
					l.add(p+".rate_limit.key", "key consumer needs auth on the route; use key: ip for a public route")
				}
			case kind == "header" && isToken(name):
			default:
				l.add(p+".rate_limit.key", "unknown key %q: want consumer, ip or header:NAME", rl.Key)
			}
		}
		checkHeaderRules(l, p+".request_headers", r.RequestHeaders)
		checkHeaderRules(l, p+".response_headers", r.ResponseHeaders)
		if r.CORS != nil {
			checkCORS(l, p+".cors", r.CORS)
		}
		if r.UnitsHeader != "" {
			checkHeaderName(l, p+".units_header", r.UnitsHeader, false)
		}
		notNegative(l, p+".max_body_bytes", int64(r.MaxBodyBytes))
		if ws := r.WebSocket; ws != nil {
			if r.Aggregate != nil {
				l.add(p+".websocket", "applies to upstream routes only; aggregate routes do not upgrade connections")
			}
			notNegative(l, p+".websocket.idle_timeout", int64(ws.IdleTimeout))
			notNegative(l, p+".websocket.max_lifetime", int64(ws.MaxLifetime))
		}
		if r.Aggregate != nil {
			c.validateAggregate(l, p+".aggregate", r.Aggregate)
		}
		checkIPRules(l, p+".ip", r.IP)
		if r.LLM != nil {
			validateLLM(l, p+".llm", r)
		}
		c.validateShaping(l, p, r)
	}
}

// maxModelName bounds a model name in llm.models: it becomes a label of
// metrics and a key of the usage ledger.
const maxModelName = 128

func validateLLM(l *problemList, p string, r *Route) {
	m := r.LLM
	if r.Aggregate != nil {
		l.add(p, "applies to upstream routes only; aggregate routes relay no single answer")
	}
	if m.Format == "" {
		l.add(p+".format", "required: openai or anthropic")
	} else {
		oneOf(l, p+".format", m.Format, "openai", "anthropic")
	}
	seen := map[string]bool{}
	for i, name := range m.Models {
		ip := index(p+".models", i)
		switch {
		case name == "":
			l.add(ip, "a model name must not be empty")
		case len(name) > maxModelName:
			l.add(ip, "a model name has at most %d bytes, got %d", maxModelName, len(name))
		case seen[name]:
			l.add(ip, "duplicate model %q", name)
		}
		seen[name] = true
	}
	notNegative(l, p+".max_tokens_default", m.MaxTokensDefault)
}

func (c *Config) checkUpstreamRef(l *problemList, p, name string) {
	if c.Upstreams[name] == nil {
		l.add(p, "unknown upstream %q (known: %s)", name, known(c.Upstreams))
	}
}

func (c *Config) validateMatch(l *problemList, p string, m *Match) {
	switch {
	case m.Path != "" && m.PathPrefix != "":
		l.add(p, "set either path or path_prefix, not both")
	case m.Path == "" && m.PathPrefix == "":
		l.add(p, "set path (exact, or a pattern with {param}) or path_prefix")
	}
	for key, v := range map[string]string{"path": m.Path, "path_prefix": m.PathPrefix} {
		if v != "" && !strings.HasPrefix(v, "/") {
			l.add(p+"."+key, "want a path starting with /, got %q", v)
		}
	}
	for i, h := range m.Hosts {
		if !validHostPattern(h) {
			l.add(index(p+".hosts", i), "want a host name like api.example.com or a wildcard like *.example.com (no port), got %q", h)
		}
	}
	checkMethods(l, p+".methods", m.Methods)
	for _, h := range slices.Sorted(maps.Keys(m.Headers)) {
		checkHeaderName(l, join(p+".headers", h), h, true)
	}
	if m.Version != "" && c.Versioning == nil {
		l.add(p+".version", "needs a versioning section saying where the version comes from (from: [path, header:NAME, query:NAME])")
	}
}

func checkMethods(l *problemList, p string, methods []string) {
	seen := map[string]bool{}
	for i, m := range methods {
		mp := index(p, i)
		switch {
		case !isToken(m):
			l.add(mp, "want an HTTP method like GET or POST, got %q", m)
		case refusedVerb[m] != "":
			l.add(mp, "%s is not routable: %s", m, refusedVerb[m])
		case seen[m]:
			l.add(mp, "%s is listed twice", m)
		}
		seen[m] = true
	}
}

func validHostPattern(h string) bool {
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		return validHostname(rest)
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	return validHostname(h)
}

func (c *Config) validateRouteAuth(l *problemList, p string, r *Route) {
	seen := map[string]bool{}
	for i, a := range r.Auth {
		ap := index(p+".auth", i)
		name, isJWT := strings.CutPrefix(a, "jwt:")
		ext, isExternal := strings.CutPrefix(a, "external:")
		switch {
		case seen[a]:
			l.add(ap, "%q is listed twice", a)
		case a == "api_key":
		case a == "mtls":
			if t := c.Server.TLS; t == nil || (t.ClientAuth != ClientAuthRequest && t.ClientAuth != ClientAuthRequire) {
				l.add(ap, "mtls needs server.tls with client_auth request or require: no client certificate is verified otherwise")
			}
		case isJWT:
			if !slices.ContainsFunc(c.Auth.JWT, func(j *JWT) bool { return j.Name == name }) {
				l.add(ap, "unknown JWT provider %q (defined in auth.jwt: %s)", name, jwtNames(c.Auth.JWT))
			}
		case isExternal:
			if !slices.ContainsFunc(c.Auth.External, func(e *ExternalAuth) bool { return e.Name == ext }) {
				l.add(ap, "unknown external authorization service %q (defined in auth.external: %s)", ext, externalNames(c.Auth.External))
			}
		default:
			l.add(ap, "unknown auth method %q: want api_key, mtls, jwt:NAME or external:NAME", a)
		}
		seen[a] = true
	}
	if len(r.AllowGroups) > 0 && len(r.Auth) == 0 {
		l.add(p+".allow_groups", "needs auth on the route: groups belong to authenticated consumers")
	}
	for i, g := range r.AllowGroups {
		if g == "" {
			l.add(index(p+".allow_groups", i), "must not be empty")
		}
	}
}

func jwtNames(js []*JWT) string {
	return listNames(js, func(j *JWT) string { return j.Name })
}

func checkHeaderRules(l *problemList, p string, h *HeaderRules) {
	if h == nil {
		return
	}
	for _, set := range []struct {
		key string
		m   map[string]string
	}{{"set", h.Set}, {"add", h.Add}} {
		for _, name := range slices.Sorted(maps.Keys(set.m)) {
			checkHeaderName(l, join(p+"."+set.key, name), name, false)
		}
	}
	for i, name := range h.Remove {
		checkHeaderName(l, index(p+".remove", i), name, false)
	}
}

func checkCORS(l *problemList, p string, c *CORS) {
	if len(c.Origins) == 0 {
		l.add(p+".origins", "list the allowed origins, like [\"https://app.example.com\"], or [\"*\"]")
	}
	for i, o := range c.Origins {
		op := index(p+".origins", i)
		switch {
		case o == "*":
			if c.AllowCredentials {
				l.add(op, "\"*\" cannot be combined with allow_credentials: browsers refuse it; list the origins")
			}
		case !originRe.MatchString(o):
			l.add(op, "want \"*\" or an origin like https://app.example.com[:port] (no path, no trailing /), got %q", o)
		}
	}
	checkMethods(l, p+".methods", c.Methods)
	for _, list := range []struct {
		key   string
		names []string
	}{{"headers", c.Headers}, {"expose_headers", c.ExposeHeaders}} {
		for i, h := range list.names {
			if h != "*" {
				checkHeaderName(l, index(p+"."+list.key, i), h, false)
			}
		}
	}
	notNegative(l, p+".max_age", int64(c.MaxAge))
}

func (c *Config) validateAggregate(l *problemList, p string, a *Aggregate) {
	positive(l, p+".timeout", int64(a.Timeout), "a duration like \"2s\"")
	if len(a.Calls) == 0 {
		l.add(p+".calls", "list at least one call: {name, upstream, path}")
	}
	names := map[string]string{}
	for i, call := range a.Calls {
		cp := index(p+".calls", i)
		switch {
		case call.Name == "":
			l.add(cp+".name", "required: the key of this call's result in the merged object")
		case !callNameRe.MatchString(call.Name):
			l.add(cp+".name", "want letters, digits and _ (not starting with a digit), got %q", call.Name)
		case names[call.Name] != "":
			l.add(cp+".name", "duplicate call name %q (also %s)", call.Name, names[call.Name])
		default:
			names[call.Name] = cp
		}
		if call.Upstream == "" {
			l.add(cp+".upstream", "required: one of %s", known(c.Upstreams))
		} else {
			c.checkUpstreamRef(l, cp+".upstream", call.Upstream)
		}
		if !isToken(call.Method) {
			l.add(cp+".method", "want an HTTP method like GET, got %q", call.Method)
		}
		if !strings.HasPrefix(call.Path, "/") {
			l.add(cp+".path", "want a path starting with /, like /users/{user_id}, got %q", call.Path)
		}
		for _, h := range slices.Sorted(maps.Keys(call.Headers)) {
			checkHeaderName(l, join(cp+".headers", h), h, false)
		}
		for k, s := range call.Select {
			if s == "" {
				l.add(index(cp+".select", k), "must not be empty: name a field to keep")
			}
		}
		for _, from := range slices.Sorted(maps.Keys(call.Rename)) {
			if from == "" || call.Rename[from] == "" {
				l.add(join(cp+".rename", from), "want from_field: to_field, both non-empty")
			}
		}
		notNegative(l, cp+".timeout", int64(call.Timeout))
		if call.Timeout > a.Timeout && a.Timeout > 0 {
			l.add(cp+".timeout", "%s is longer than the aggregate's timeout %s, which would cut it short", call.Timeout, a.Timeout)
		}
		notNegative(l, cp+".cache", int64(call.Cache))
	}
}

func atLeastOne(l *problemList, p string, v int) {
	if v < 1 {
		l.add(p, "want at least 1, got %d", v)
	}
}
