package importer

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
)

// GatewayAPI translates Kubernetes Gateway API manifests (a stream of YAML
// documents): each HTTPRoute rule match becomes a route (path, header and
// method matches), its backendRefs an upstream of Service targets with
// their weights, and the RequestHeaderModifier, ResponseHeaderModifier
// and URLRewrite filters route settings. A Gateway's first HTTP
// listener gives server.listen. A Service is reached at
// http://NAME.NAMESPACE.svc.cluster.local:PORT unless Options.Targets
// names it.
func GatewayAPI(data []byte, o Options) (*Result, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	t := newTranslation(o)
	g := &gateway{t: t}
	for i, d := range docs {
		m := t.mapping(d, fmt.Sprintf("document %d", i+1))
		kind := m.str("kind")
		m.get("apiVersion")
		meta := m.sub("metadata", kind+" metadata")
		name, ns := meta.str("name"), meta.str("namespace")
		if ns == "" {
			ns = "default"
		}
		m.what = kind + " " + name
		switch kind {
		case "HTTPRoute":
			g.route(m.sub("spec", "HTTPRoute "+name), name, ns)
		case "Gateway":
			g.gateway(m.sub("spec", "Gateway "+name), name)
		case "":
		default:
			t.note(m.line(), "%s %s: not translated", kind, name)
			continue
		}
		m.rest("metadata", "status")
	}
	return t.result(), nil
}

type gateway struct {
	t *translation
}

func (g *gateway) gateway(spec *mapping, name string) {
	t := g.t
	for i, n := range spec.list("listeners") {
		l := t.mapping(n, fmt.Sprintf("Gateway %s listeners[%d]", name, i))
		proto, port := l.str("protocol"), l.str("port")
		l.get("name")
		l.get("allowedRoutes")
		if proto == "HTTP" && t.cfg.Server.Listen == "" {
			t.cfg.Server.Listen = ":" + port
			if h := l.str("hostname"); h != "" {
				t.note(l.keyLine("hostname"), "Gateway %s listener %s: hostname %s not translated: routes keep their own hostnames", name, l.str("name"), h)
			}
			l.rest()
			continue
		}
		t.note(l.line(), "Gateway %s listener %s (%s, port %s) not translated: Gantry serves one client listener (set server.tls for HTTPS)", name, l.str("name"), proto, port)
	}
	spec.rest("gatewayClassName", "listeners")
}

// backend is one backendRef of a rule.
type backend struct {
	name, url string
	weight    int
}

func (g *gateway) route(spec *mapping, name, ns string) {
	t := g.t
	spec.get("parentRefs")
	hosts := spec.strs("hostnames")
	rules := spec.list("rules")
	for i, rn := range rules {
		rule := t.mapping(rn, fmt.Sprintf("HTTPRoute %s rules[%d]", name, i))
		var backends []backend
		for j, bn := range rule.list("backendRefs") {
			b := t.mapping(bn, fmt.Sprintf("HTTPRoute %s rules[%d].backendRefs[%d]", name, i, j))
			if k := b.str("kind"); k != "" && k != "Service" {
				t.note(b.line(), "HTTPRoute %s: backend %s of kind %s not translated", name, b.str("name"), k)
				continue
			}
			b.get("group")
			bns := b.str("namespace")
			if bns == "" {
				bns = ns
			}
			w := 1
			if v, ok := b.num("weight"); ok {
				w = int(v)
			}
			if w == 0 {
				t.note(b.keyLine("weight"), "HTTPRoute %s: backend %s has weight 0 (no traffic): left out", name, b.str("name"))
				continue
			}
			svc := b.str("name")
			if _, ok := t.opt.Targets[svc]; !ok && b.str("port") == "" {
				t.note(b.line(), "HTTPRoute %s: backend %s has no port: not translated", name, svc)
				continue
			}
			backends = append(backends, backend{name: svc, weight: w,
				url: t.target(svc, fmt.Sprintf("http://%s.%s.svc.cluster.local:%s", svc, bns, b.str("port")))})
			for _, f := range b.list("filters") {
				t.note(f.Line, "HTTPRoute %s: filters on a backendRef not translated", name)
			}
			b.rest("filters")
		}
		if len(backends) == 0 {
			t.note(rule.line(), "HTTPRoute %s rules[%d]: no backend Gantry can reach: not translated", name, i)
			continue
		}
		upName := safeName(fmt.Sprintf("%s-%d", name, i+1))
		if len(backends) == 1 {
			upName = safeName(backends[0].name)
		}
		var reqH, respH *config.HeaderRules
		var fullPath, prefixTo string
		for j, fn := range rule.list("filters") {
			f := t.mapping(fn, fmt.Sprintf("HTTPRoute %s rules[%d].filters[%d]", name, i, j))
			switch typ := f.str("type"); typ {
			case "RequestHeaderModifier":
				reqH = headerModifier(f.sub("requestHeaderModifier", "RequestHeaderModifier"))
			case "ResponseHeaderModifier":
				respH = headerModifier(f.sub("responseHeaderModifier", "ResponseHeaderModifier"))
			case "URLRewrite":
				rw := f.sub("urlRewrite", "URLRewrite")
				if h := rw.str("hostname"); h != "" {
					t.note(rw.keyLine("hostname"), "HTTPRoute %s: URLRewrite hostname not translated: the upstream gets its target's host", name)
				}
				p := rw.sub("path", "URLRewrite path")
				switch p.str("type") {
				case "ReplaceFullPath":
					fullPath = p.str("replaceFullPath")
				case "ReplacePrefixMatch":
					prefixTo = strings.TrimSuffix(p.str("replacePrefixMatch"), "/")
					if prefixTo == "" {
						prefixTo = "/"
					}
				}
				p.rest("type")
				rw.rest("hostname")
			default:
				t.note(f.line(), "HTTPRoute %s: filter %s not translated", name, typ)
			}
			f.rest("type", "requestRedirect", "requestMirror", "extensionRef", "cors")
		}
		up := &config.Upstream{}
		same := true
		for _, b := range backends {
			same = same && b.weight == backends[0].weight
		}
		for _, b := range backends {
			u := b.url
			if prefixTo != "" && prefixTo != "/" {
				u = strings.TrimSuffix(u, "/") + prefixTo
			}
			tg := &config.Target{URL: u}
			if !same {
				tg.Weight = b.weight
			}
			up.Targets = append(up.Targets, tg)
		}
		if prefixTo != "" && prefixTo != "/" {
			upName = safeName(upName + "-" + prefixTo)
		}
		if prev, ok := t.cfg.Upstreams[upName]; ok && !sameTargets(prev, up) {
			upName = safeName(fmt.Sprintf("%s-%s-%d", upName, name, i+1))
		}
		t.cfg.Upstreams[upName] = up

		matches := rule.list("matches")
		if len(matches) == 0 {
			matches = []*yaml.Node{nil}
		}
		for j, mn := range matches {
			m := t.mapping(mn, fmt.Sprintf("HTTPRoute %s rules[%d].matches[%d]", name, i, j))
			rn := name
			if len(rules) > 1 || len(matches) > 1 {
				rn = fmt.Sprintf("%s-%d-%d", name, i+1, j+1)
			}
			r := &config.Route{Name: t.routeName(rn), Upstream: upName, Match: config.Match{Hosts: hosts}, RequestHeaders: reqH, ResponseHeaders: respH}
			p := m.sub("path", "path match")
			typ, val := p.str("type"), p.str("value")
			if val == "" {
				val = "/"
			}
			switch typ {
			case "", "PathPrefix":
				r.Match.PathPrefix = val
				if prefixTo != "" && val != "/" {
					r.StripPrefix = strings.TrimSuffix(val, "/")
				}
			case "Exact":
				if strings.ContainsAny(val, "{}") {
					t.note(p.line(), "HTTPRoute %s: exact path %s not translated: braces are parameters in Gantry", name, val)
					continue
				}
				r.Match.Path = val
			default:
				t.note(p.line(), "HTTPRoute %s: path match %s %s not translated", name, typ, val)
				continue
			}
			if prefixTo != "" && typ == "Exact" {
				t.note(p.line(), "HTTPRoute %s: ReplacePrefixMatch on an exact match translated as a full rewrite", name)
				r.Rewrite = prefixTo
			}
			if fullPath != "" {
				r.Rewrite = fullPath
				r.StripPrefix = ""
			}
			for _, hn := range m.list("headers") {
				h := t.mapping(hn, "header match")
				if ht := h.str("type"); ht != "" && ht != "Exact" {
					t.note(h.line(), "HTTPRoute %s: header match %s on %s not translated", name, ht, h.str("name"))
					continue
				}
				if r.Match.Headers == nil {
					r.Match.Headers = map[string]string{}
				}
				r.Match.Headers[h.str("name")] = h.str("value")
				h.rest()
			}
			if meth := m.str("method"); meth != "" {
				r.Match.Methods = []string{meth}
			}
			for _, q := range m.list("queryParams") {
				t.note(q.Line, "HTTPRoute %s: query parameter match not translated", name)
			}
			m.rest("path", "headers", "queryParams")
			t.cfg.Routes = append(t.cfg.Routes, r)
		}
		if tm := rule.get("timeouts"); tm != nil {
			t.note(tm.Line, "HTTPRoute %s: timeouts not translated (set the upstream's timeouts)", name)
		}
		rule.rest("name", "matches", "filters", "backendRefs", "timeouts", "sessionPersistence")
	}
	spec.rest("parentRefs", "hostnames", "rules")
}

func headerModifier(m *mapping) *config.HeaderRules {
	h := &config.HeaderRules{Remove: m.strs("remove")}
	for _, op := range []struct {
		key  string
		into *map[string]string
	}{{"set", &h.Set}, {"add", &h.Add}} {
		for _, n := range m.list(op.key) {
			kv := m.t.mapping(n, "header")
			if *op.into == nil {
				*op.into = map[string]string{}
			}
			(*op.into)[kv.str("name")] = kv.str("value")
			kv.rest()
		}
	}
	m.rest()
	return h
}

func sameTargets(a, b *config.Upstream) bool {
	if len(a.Targets) != len(b.Targets) {
		return false
	}
	for i := range a.Targets {
		if *a.Targets[i] != *b.Targets[i] {
			return false
		}
	}
	return true
}
