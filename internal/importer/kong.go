package importer

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
)

// Kong translates a Kong declarative configuration (a decK file,
// _format_version "3.0"): services and their routes become upstreams and
// routes, Kong upstreams give their targets, weights, balancing and health
// checks, consumers keep their key-auth keys, one jwt credential and ACL
// groups, and the key-auth, jwt, acl, rate-limiting, cors,
// request-transformer and response-transformer plugins (global, per
// service and per route, the most specific winning) become route
// settings. Options.Targets replaces the address of a service or a Kong
// upstream by name.
func Kong(data []byte, o Options) (*Result, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 || docs[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want one YAML mapping with _format_version, services and routes")
	}
	t := newTranslation(o)
	k := &kong{t: t, upstreams: map[string]*mapping{}, byService: map[string]map[string]*kongPlugin{}, byRoute: map[string]map[string]*kongPlugin{}, services: map[string]*kongService{}}
	top := t.mapping(docs[0], "kong")
	if v := top.str("_format_version"); v != "3.0" {
		t.note(top.keyLine("_format_version"), "_format_version %q: read as \"3.0\"", v)
	}
	for i, n := range top.list("upstreams") {
		u := t.mapping(n, fmt.Sprintf("upstreams[%d]", i))
		k.upstreams[u.str("name")] = u
	}
	k.global = k.plugins(top.list("plugins"), "plugins", true)
	for i, n := range top.list("consumers") {
		k.consumer(n, i)
	}
	for i, n := range top.list("services") {
		k.service(n, i)
	}
	for i, n := range top.list("routes") {
		r := t.mapping(n, fmt.Sprintf("routes[%d]", i))
		ref := r.get("service")
		svcName := ""
		if ref != nil && ref.Kind == yaml.ScalarNode {
			svcName = ref.Value
		} else if ref != nil {
			svcName = t.mapping(ref, "service").str("name")
		}
		svc, ok := k.services[svcName]
		if !ok {
			t.note(r.line(), "route %q: service %q is not in the file: not translated", r.str("name"), svcName)
			continue
		}
		k.route(r, svc, i)
	}
	for _, u := range k.upstreams {
		if !u.used["targets"] {
			t.note(u.line(), "upstream %q: no service uses it: not translated", u.str("name"))
		}
	}
	top.rest("_transform", "_info", "_workspace", "_format_version", "upstreams", "plugins", "consumers", "services", "routes")
	return t.result(), nil
}

type kong struct {
	t         *translation
	upstreams map[string]*mapping
	services  map[string]*kongService
	global    map[string]*kongPlugin
	byService map[string]map[string]*kongPlugin
	byRoute   map[string]map[string]*kongPlugin
	jwt       string // the one jwt provider, "" when none
}

type kongService struct {
	name, upstream string
	plugins        map[string]*kongPlugin
}

type kongPlugin struct {
	name string
	line int
	cfg  *mapping
}

// service translates one service and its nested routes.
func (k *kong) service(n *yaml.Node, i int) {
	t := k.t
	s := t.mapping(n, fmt.Sprintf("services[%d]", i))
	name := s.str("name")
	if name == "" {
		name = fmt.Sprintf("service-%d", i)
	}
	s.what = "service " + name
	if !s.boolean("enabled", true) {
		t.note(s.line(), "service %s: disabled, not translated", name)
		return
	}
	u, err := serviceURL(s)
	if err != nil {
		t.note(s.line(), "service %s: %v: not translated", name, err)
		return
	}
	up := &config.Upstream{}
	if ku, ok := k.upstreams[u.Hostname()]; ok {
		k.kongUpstream(ku, up, u)
	} else {
		up.Targets = []*config.Target{{URL: t.address(u.Hostname(), u)}}
	}
	if _, ok := t.opt.Targets[name]; ok {
		up.Targets = []*config.Target{{URL: t.address(name, u)}}
	}
	if v, ok := s.num("retries"); ok {
		if v > 10 {
			t.note(s.keyLine("retries"), "service %s: retries %v: Gantry allows at most 10", name, v)
			v = 10
		}
		up.Retries = int(v)
	}
	if v, ok := s.num("connect_timeout"); ok {
		up.Timeouts.Connect = config.Duration(time.Duration(v) * time.Millisecond)
	}
	if v, ok := s.num("read_timeout"); ok {
		up.Timeouts.Response = config.Duration(time.Duration(v) * time.Millisecond)
	}
	if v, ok := s.num("write_timeout"); ok && v != 60000 {
		t.note(s.keyLine("write_timeout"), "service %s: write_timeout not translated (Gantry bounds the wait for the response header)", name)
	}
	uname := name
	t.cfg.Upstreams[uname] = up
	svc := &kongService{name: name, upstream: uname, plugins: k.plugins(s.list("plugins"), "service "+name+" plugins", false)}
	for pn, p := range k.byService[name] {
		svc.plugins[pn] = p
	}
	k.services[name] = svc
	for j, rn := range s.list("routes") {
		k.route(t.mapping(rn, fmt.Sprintf("service %s routes[%d]", name, j)), svc, j)
	}
	s.rest("id", "tags", "created_at", "updated_at", "name", "url", "protocol", "host", "port", "path")
}

// serviceURL is a service's url, or the URL its protocol, host, port and
// path make.
func serviceURL(s *mapping) (*url.URL, error) {
	raw := s.str("url")
	if raw == "" {
		proto := s.str("protocol")
		if proto == "" {
			proto = "http"
		}
		host := s.str("host")
		if host == "" {
			return nil, fmt.Errorf("no url and no host")
		}
		if p := s.str("port"); p != "" {
			host += ":" + p
		}
		raw = proto + "://" + host + s.str("path")
	} else {
		s.get("protocol")
		s.get("host")
		s.get("port")
		s.get("path")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("protocol %s", u.Scheme)
	}
	return u, nil
}

// kongUpstream fills up from a Kong upstream: targets (with the service's
// scheme and path), weights, algorithm, health checks.
func (k *kong) kongUpstream(ku *mapping, up *config.Upstream, svc *url.URL) {
	t := k.t
	name := ku.str("name")
	ku.what = "upstream " + name
	for i, n := range ku.list("targets") {
		tm := t.mapping(n, fmt.Sprintf("upstream %s targets[%d]", name, i))
		addr := tm.str("target")
		w := 100.0
		if v, ok := tm.num("weight"); ok {
			w = v
		}
		if w == 0 {
			t.note(tm.line(), "upstream %s: target %s has weight 0 (no traffic): left out", name, addr)
			continue
		}
		u := *svc
		u.Host = addr
		up.Targets = append(up.Targets, &config.Target{URL: t.address(addr, &u), Weight: int(w)})
		tm.rest("id", "tags", "created_at", "updated_at", "target", "weight")
	}
	switch a := ku.str("algorithm"); a {
	case "", "round-robin":
	case "least-connections":
		up.Balancer = "least_conn"
	case "latency":
		up.Balancer = "p2c_ewma"
	case "consistent-hashing":
		up.Balancer = "hash"
		switch h := ku.str("hash_on"); h {
		case "consumer", "ip":
			up.HashOn = h
		case "header":
			up.HashOn = "header:" + ku.str("hash_on_header")
		case "cookie":
			up.HashOn = "cookie:" + ku.str("hash_on_cookie")
			ku.get("hash_on_cookie_path")
		case "query_arg":
			up.HashOn = "query:" + ku.str("hash_on_query_arg")
		default:
			t.note(ku.keyLine("hash_on"), "upstream %s: hash_on %s not translated: hashing on the client address", name, h)
			up.HashOn = "ip"
		}
		if f := ku.str("hash_fallback"); f != "" && f != "none" {
			t.note(ku.keyLine("hash_fallback"), "upstream %s: hash_fallback not translated", name)
		}
	default:
		t.note(ku.keyLine("algorithm"), "upstream %s: algorithm %s not translated: round robin", name, a)
	}
	hc := ku.sub("healthchecks", "upstream "+name+" healthchecks")
	act := hc.sub("active", "upstream "+name+" healthchecks.active")
	healthy := act.sub("healthy", "upstream "+name+" healthchecks.active.healthy")
	unhealthy := act.sub("unhealthy", "upstream "+name+" healthchecks.active.unhealthy")
	if iv, _ := healthy.num("interval"); iv > 0 {
		h := &config.HealthCheck{Path: act.str("http_path"), Interval: config.Duration(time.Duration(iv * float64(time.Second)))}
		if v, ok := act.num("timeout"); ok {
			h.Timeout = config.Duration(time.Duration(v * float64(time.Second)))
		}
		if v, ok := healthy.num("successes"); ok && v > 0 {
			h.HealthyAfter = int(v)
		}
		if v, ok := unhealthy.num("http_failures"); ok && v > 0 {
			h.UnhealthyAfter = int(v)
		}
		up.HealthCheck = h
		healthy.rest("http_statuses")
		unhealthy.rest("interval", "http_statuses", "tcp_failures", "timeouts")
		act.rest("type", "concurrency", "https_verify_certificate", "headers", "https_sni")
	}
	pas := hc.sub("passive", "upstream "+name+" healthchecks.passive")
	pu := pas.sub("unhealthy", "upstream "+name+" healthchecks.passive.unhealthy")
	if v, _ := pu.num("http_failures"); v > 0 {
		up.Passive = &config.Passive{Failures: int(v)}
		pu.rest("http_statuses", "tcp_failures", "timeouts")
	}
	hc.get("threshold")
	ku.rest("id", "tags", "created_at", "updated_at", "name", "slots", "healthchecks", "hash_on", "hash_fallback", "hash_on_header", "hash_on_cookie", "hash_on_cookie_path", "hash_on_query_arg", "hash_fallback_header", "algorithm")
}

// route translates one Kong route of svc: a Gantry route per path.
func (k *kong) route(r *mapping, svc *kongService, i int) {
	t := k.t
	name := r.str("name")
	if name == "" {
		name = fmt.Sprintf("%s-route-%d", svc.name, i)
	}
	r.what = "route " + name
	r.get("service")
	for _, p := range r.strs("protocols") {
		if p != "http" && p != "https" {
			t.note(r.keyLine("protocols"), "route %s: protocol %s not translated", name, p)
		}
	}
	paths := r.strs("paths")
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	strip := r.boolean("strip_path", true)
	m := config.Match{Hosts: r.strs("hosts"), Methods: r.strs("methods")}
	hs := r.sub("headers", "route "+name+" headers")
	if hs.n != nil {
		for j := 0; j+1 < len(hs.n.Content); j += 2 {
			hk, hv := hs.n.Content[j], hs.n.Content[j+1]
			var vals []string
			if hv.Kind == yaml.SequenceNode {
				for _, e := range hv.Content {
					vals = append(vals, e.Value)
				}
			} else {
				vals = []string{hv.Value}
			}
			if len(vals) != 1 || strings.HasPrefix(vals[0], "~*") {
				t.note(hk.Line, "route %s: header match %s on %v not translated: Gantry matches one exact value", name, hk.Value, vals)
				continue
			}
			if m.Headers == nil {
				m.Headers = map[string]string{}
			}
			m.Headers[hk.Value] = vals[0]
		}
	}
	if r.boolean("preserve_host", false) {
		t.note(r.keyLine("preserve_host"), "route %s: preserve_host not translated: the upstream gets its own host", name)
	}
	plugins := map[string]*kongPlugin{}
	for pn, p := range k.global {
		plugins[pn] = p
	}
	for pn, p := range svc.plugins {
		plugins[pn] = p
	}
	for pn, p := range k.plugins(r.list("plugins"), "route "+name+" plugins", false) {
		plugins[pn] = p
	}
	for pn, p := range k.byRoute[name] {
		plugins[pn] = p
	}
	for j, p := range paths {
		if strings.HasPrefix(p, "~") {
			t.note(r.keyLine("paths"), "route %s: regex path %s not translated", name, p)
			continue
		}
		rn := name
		if j > 0 {
			rn = fmt.Sprintf("%s-%d", name, j+1)
		}
		gr := &config.Route{Name: t.routeName(rn), Upstream: svc.upstream, Match: m}
		gr.Match.PathPrefix = p
		if strip && p != "/" {
			gr.StripPrefix = strings.TrimSuffix(p, "/")
		}
		if k.apply(gr, plugins) {
			t.cfg.Routes = append(t.cfg.Routes, gr)
		}
	}
	r.rest("id", "tags", "created_at", "updated_at", "name", "regex_priority", "path_handling", "https_redirect_status_code", "request_buffering", "response_buffering", "protocols")
}

// consumer translates one consumer: id, key-auth keys, one jwt credential,
// ACL groups.
func (k *kong) consumer(n *yaml.Node, i int) {
	t := k.t
	c := t.mapping(n, fmt.Sprintf("consumers[%d]", i))
	id := c.str("username")
	if id == "" {
		id = c.str("custom_id")
	}
	if id == "" {
		id = fmt.Sprintf("consumer-%d", i)
	}
	if c.str("username") != "" && c.str("custom_id") != "" {
		t.note(c.keyLine("custom_id"), "consumer %s: custom_id not translated: the id is the username", id)
	}
	c.what = "consumer " + id
	co := &config.Consumer{ID: consumerID(id)}
	for _, e := range c.list("keyauth_credentials") {
		m := t.mapping(e, "consumer "+id+" key")
		key := m.str("key")
		if len(key) < 16 {
			t.note(m.line(), "consumer %s: key shorter than 16 characters not translated (Gantry refuses such keys)", id)
			continue
		}
		co.APIKeys = append(co.APIKeys, config.APIKey{Key: key})
		m.rest("id", "tags", "created_at", "ttl")
	}
	for _, e := range c.list("jwt_secrets") {
		m := t.mapping(e, "consumer "+id+" jwt secret")
		k.jwtCredential(m, co)
	}
	for _, e := range c.list("acls") {
		g := t.mapping(e, "consumer "+id+" acl")
		if v := g.str("group"); v != "" {
			co.Groups = append(co.Groups, v)
		}
		g.rest("id", "tags", "created_at")
	}
	for _, e := range c.list("plugins") {
		t.note(e.Line, "consumer %s: plugin not translated (per-consumer plugins; a plan can carry a rate limit and quota)", id)
	}
	for _, key := range []string{"basicauth_credentials", "hmacauth_credentials", "oauth2_credentials", "mtls_auth_credentials"} {
		for _, e := range c.list(key) {
			t.note(e.Line, "consumer %s: %s not translated", id, key)
		}
	}
	t.cfg.Consumers = append(t.cfg.Consumers, co)
	c.rest("id", "tags", "created_at", "username", "custom_id")
}

// jwtCredential makes the first usable jwt credential the file's one JWT
// provider: its key is the token's iss, which names the consumer.
func (k *kong) jwtCredential(m *mapping, co *config.Consumer) {
	t := k.t
	alg := m.str("algorithm")
	if alg == "" {
		alg = "HS256"
	}
	key, secret := m.str("key"), m.str("secret")
	m.get("rsa_public_key")
	m.rest("id", "tags", "created_at")
	if k.jwt != "" {
		t.note(m.line(), "consumer %s: jwt credential %s not translated: Gantry verifies a provider's tokens with one key, and %s is the provider", co.ID, key, k.jwt)
		return
	}
	bits, _ := strconv.Atoi(alg[2:])
	switch {
	case !strings.HasPrefix(alg, "HS"):
		t.note(m.line(), "consumer %s: jwt credential %s (%s) not translated: write rsa_public_key to a file and add a provider with public_key_file", co.ID, key, alg)
		return
	case len(secret) < bits/8:
		t.note(m.line(), "consumer %s: jwt credential %s not translated: an %s secret needs at least %d bytes", co.ID, key, alg, bits/8)
		return
	}
	k.jwt = "kong-jwt"
	t.cfg.Auth.JWT = append(t.cfg.Auth.JWT, &config.JWT{Name: k.jwt, Issuer: key, Secret: secret, Algorithms: []string{alg}, ConsumerClaim: "iss"})
	co.JWTSubjects = append(co.JWTSubjects, key)
}

var idChars = regexp.MustCompile(`[^A-Za-z0-9_.@-]+`)

// consumerID makes s a consumer id: letters, digits, _, ., @ and -.
func consumerID(s string) string {
	return idChars.ReplaceAllString(s, "-")
}
