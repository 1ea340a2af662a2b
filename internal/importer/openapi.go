package importer

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
)

// openAPIMethods are the operations of a path item, in the order routes
// are written.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// OpenAPI translates an OpenAPI 3 document (YAML or JSON): one route per
// path and operation, onto one upstream (Options.Upstream, default the
// title) at the first servers[] URL (or Options.Targets[upstream]). A
// server URL's path is put in front of every route's path, as clients
// call it; {param} segments become Gantry path parameters. apiKey security
// schemes in a header or the query become api_key auth.
func OpenAPI(data []byte, o Options) (*Result, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("want one document, got %d", len(docs))
	}
	t := newTranslation(o)
	doc := t.mapping(docs[0], "openapi")
	if v := doc.str("openapi"); !strings.HasPrefix(v, "3.") {
		return nil, fmt.Errorf("openapi %q: want an OpenAPI 3 document", v)
	}
	info := doc.sub("info", "info")
	up := o.Upstream
	if up == "" {
		up = strings.ToLower(safeName(info.str("title")))
	}
	info.rest("title", "version", "description", "summary", "contact", "license", "termsOfService")
	target, base, err := openAPIServer(doc, t, up)
	if err != nil {
		return nil, err
	}
	t.cfg.Upstreams[up] = &config.Upstream{Targets: []*config.Target{{URL: target}}}

	schemes := doc.sub("components", "components").sub("securitySchemes", "securitySchemes")
	global := doc.get("security")
	paths := doc.sub("paths", "paths")
	if paths.n == nil {
		return nil, fmt.Errorf("the document has no paths")
	}
	for i := 0; i+1 < len(paths.n.Content); i += 2 {
		pk, pv := paths.n.Content[i], paths.n.Content[i+1]
		item := t.mapping(pv, "path "+pk.Value)
		pattern, bad := openAPIPattern(base + pk.Value)
		if bad != "" {
			t.note(pk.Line, "path %s: %s: not translated", pk.Value, bad)
			continue
		}
		for _, meth := range openAPIMethods {
			on := item.get(meth)
			if on == nil {
				continue
			}
			op := t.mapping(on, strings.ToUpper(meth)+" "+pk.Value)
			rn := op.str("operationId")
			if rn == "" {
				rn = meth + "-" + pk.Value
			}
			r := &config.Route{Name: t.routeName(rn), Upstream: up, Match: config.Match{Methods: []string{strings.ToUpper(meth)}}}
			r.Match.Path = pattern
			sec := global
			if s := op.get("security"); s != nil {
				sec = s
			}
			auth, ok := openAPIAuth(t, sec, schemes, r.Name)
			if !ok {
				t.note(op.line(), "%s %s: not translated: it needs a credential Gantry was not given (see the security scheme above); a route is never imported public", strings.ToUpper(meth), pk.Value)
				op.rest("operationId", "summary", "description", "tags", "parameters", "requestBody", "responses", "deprecated", "externalDocs", "security")
				continue
			}
			r.Auth = auth
			for _, k := range []string{"callbacks", "servers"} {
				if v := op.get(k); v != nil {
					t.note(v.Line, "%s %s: %s not translated", strings.ToUpper(meth), pk.Value, k)
				}
			}
			t.cfg.Routes = append(t.cfg.Routes, r)
			op.rest("operationId", "summary", "description", "tags", "parameters", "requestBody", "responses", "deprecated", "externalDocs")
		}
		if v := item.get("servers"); v != nil {
			t.note(v.Line, "path %s: servers not translated: every route goes to %s", pk.Value, up)
		}
		item.rest("summary", "description", "parameters", "$ref")
	}
	if wh := doc.get("webhooks"); wh != nil {
		t.note(wh.Line, "webhooks not translated: they are calls the API makes, not routes")
	}
	doc.rest("openapi", "info", "servers", "components", "security", "paths", "tags", "externalDocs", "jsonSchemaDialect")
	return t.result(), nil
}

var (
	serverVar  = regexp.MustCompile(`\{([^}]*)\}`)
	paramChars = regexp.MustCompile(`[^A-Za-z0-9_]`)
)

// openAPIServer returns the upstream's target (scheme and host of the
// first server, or Options.Targets[up]) and the server URL's path.
func openAPIServer(doc *mapping, t *translation, up string) (target, base string, err error) {
	servers := doc.list("servers")
	raw := ""
	if len(servers) > 0 {
		s := t.mapping(servers[0], "servers[0]")
		raw = s.str("url")
		vars := s.sub("variables", "servers[0].variables")
		raw = serverVar.ReplaceAllStringFunc(raw, func(m string) string {
			return vars.sub(m[1:len(m)-1], "server variable").str("default")
		})
		s.rest("description")
		for _, more := range servers[1:] {
			t.note(more.Line, "servers beyond the first not translated: %s", t.mapping(more, "server").str("url"))
		}
	}
	u, perr := url.Parse(raw)
	if raw != "" && perr == nil {
		base = strings.TrimSuffix(u.Path, "/")
	}
	if ov, ok := t.opt.Targets[up]; ok {
		return ov, base, nil
	}
	if raw == "" || perr != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", fmt.Errorf("no absolute http(s) servers[] URL (%q): give the address of upstream %s with --target %s=URL", raw, up, up)
	}
	return u.Scheme + "://" + u.Host, base, nil
}

// openAPIPattern turns an OpenAPI path template into a Gantry pattern:
// each {name} segment a parameter, its name made of letters, digits and _.
func openAPIPattern(p string) (string, string) {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if !strings.ContainsAny(s, "{}") {
			continue
		}
		if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") || strings.Count(s, "{") != 1 {
			return "", fmt.Sprintf("segment %q mixes a parameter with text, which Gantry patterns do not match", s)
		}
		n := paramChars.ReplaceAllString(s[1:len(s)-1], "_")
		if n == "" || n[0] >= '0' && n[0] <= '9' {
			n = "p" + n
		}
		segs[i] = "{" + n + "}"
	}
	return strings.Join(segs, "/"), ""
}

// openAPIAuth translates a security requirement list (any one of them
// suffices): apiKey schemes in a header or the query become api_key, the
// first one setting where keys are read; other schemes are noted. An
// empty list, or one with an empty requirement, leaves the route public.
// ok is false when credentials are required and none could be
// translated.
func openAPIAuth(t *translation, sec *yaml.Node, schemes *mapping, route string) (auth []string, ok bool) {
	if sec == nil || sec.Kind != yaml.SequenceNode || len(sec.Content) == 0 {
		return nil, true
	}
	for _, req := range sec.Content {
		if req.Kind != yaml.MappingNode {
			continue
		}
		if len(req.Content) == 0 {
			return nil, true // {} makes authentication optional
		}
		for i := 0; i+1 < len(req.Content); i += 2 {
			name := req.Content[i].Value
			s := schemes.sub(name, "securityScheme "+name)
			switch typ := s.str("type"); {
			case typ == "apiKey" && (s.str("in") == "header" || s.str("in") == "query"):
				if t.cfg.Auth.APIKey == nil {
					t.cfg.Auth.APIKey = &config.APIKeyAuth{}
				}
				a := t.cfg.Auth.APIKey
				switch in := s.str("in"); {
				case in == "header" && a.Header == "":
					a.Header = s.str("name")
				case in == "query" && a.Query == "":
					a.Query = s.str("name")
				case in == "header" && a.Header != s.str("name") || in == "query" && a.Query != s.str("name"):
					t.note(s.line(), "securityScheme %s: a second key %s, %s, not translated: keys are read from %s", name, in, s.str("name"), a.Header+a.Query)
				}
				if !slices.Contains(auth, "api_key") {
					auth = append(auth, "api_key")
				}
			case typ == "":
				t.note(req.Content[i].Line, "route %s: security scheme %s is not defined", route, name)
			default:
				t.note(s.line(), "securityScheme %s (%s %s) not translated: add an auth.jwt provider and jwt:NAME to the routes that need it", name, typ, s.str("scheme"))
			}
		}
	}
	return auth, len(auth) > 0
}
