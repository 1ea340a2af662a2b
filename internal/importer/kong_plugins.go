package importer

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
)

// The Kong plugins Gantry has an equivalent of, and how they become route
// settings.

// plugins reads a plugin list; top says it is the top-level list, whose
// entries may name their service, route or consumer.
func (k *kong) plugins(nodes []*yaml.Node, where string, top bool) map[string]*kongPlugin {
	out := map[string]*kongPlugin{}
	for i, n := range nodes {
		m := k.t.mapping(n, fmt.Sprintf("%s[%d]", where, i))
		p := &kongPlugin{name: m.str("name"), line: m.line()}
		m.what = "plugin " + p.name
		if !m.boolean("enabled", true) {
			k.t.note(p.line, "plugin %s: disabled, not translated", p.name)
			continue
		}
		p.cfg = m.sub("config", "plugin "+p.name+" config")
		into := out
		if top {
			switch {
			case m.get("consumer") != nil:
				k.t.note(p.line, "plugin %s: per-consumer plugins are not translated (a plan can carry a consumer's rate limit and quota)", p.name)
				continue
			case m.get("route") != nil:
				r := refName(m.get("route"))
				if k.byRoute[r] == nil {
					k.byRoute[r] = map[string]*kongPlugin{}
				}
				into = k.byRoute[r]
			case m.get("service") != nil:
				s := refName(m.get("service"))
				if k.byService[s] == nil {
					k.byService[s] = map[string]*kongPlugin{}
				}
				into = k.byService[s]
			}
		}
		if !known(p.name) {
			k.t.note(p.line, "plugin %s: not translated (no Gantry equivalent)", p.name)
			continue
		}
		into[p.name] = p
		m.rest("id", "tags", "created_at", "updated_at", "instance_name", "protocols", "ordering")
	}
	return out
}

func refName(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" || n.Content[i].Value == "id" {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func known(plugin string) bool {
	switch plugin {
	case "key-auth", "jwt", "acl", "rate-limiting", "cors", "request-transformer", "response-transformer":
		return true
	}
	return false
}

// apply sets a route's auth, groups, rate limit, CORS and header rules
// from its plugins; ok is false when the route needs authentication that
// cannot be translated.
func (k *kong) apply(gr *config.Route, plugins map[string]*kongPlugin) (ok bool) {
	t := k.t
	for _, pn := range []string{"key-auth", "jwt", "acl", "rate-limiting", "cors", "request-transformer", "response-transformer"} {
		p, ok := plugins[pn]
		if !ok {
			continue
		}
		c := p.cfg
		switch pn {
		case "key-auth":
			names := c.strs("key_names")
			if len(names) == 0 {
				names = []string{"apikey"}
			}
			if t.cfg.Auth.APIKey == nil {
				t.cfg.Auth.APIKey = &config.APIKeyAuth{}
				if c.boolean("key_in_header", true) {
					t.cfg.Auth.APIKey.Header = names[0]
				}
				if c.boolean("key_in_query", true) {
					t.cfg.Auth.APIKey.Query = names[0]
				}
			}
			if len(names) > 1 || c.boolean("key_in_body", false) {
				t.note(p.line, "plugin key-auth: only key name %s, in the header and the query, translated", names[0])
			}
			if c.boolean("hide_credentials", false) {
				gr.RequestHeaders = addRemove(gr.RequestHeaders, names[0])
			}
			gr.Auth = append(gr.Auth, "api_key")
			c.rest("key_names", "key_in_header", "key_in_query", "key_in_body", "hide_credentials", "run_on_preflight")
		case "jwt":
			if k.jwt == "" {
				t.note(p.line, "plugin jwt on route %s: no consumer has a jwt credential Gantry can verify: the route is not translated (a route is never imported public)", gr.Name)
				return false
			}
			gr.Auth = append(gr.Auth, "jwt:"+k.jwt)
			c.rest("key_claim_name", "claims_to_verify", "header_names", "uri_param_names", "cookie_names", "secret_is_base64", "run_on_preflight", "maximum_expiration")
		case "acl":
			gr.AllowGroups = c.strs("allow")
			if len(c.strs("deny")) > 0 {
				t.note(c.keyLine("deny"), "plugin acl: deny not translated (Gantry admits groups with allow_groups)")
			}
			c.rest("hide_groups_header", "include_consumer_groups", "always_use_authenticated_groups")
		case "rate-limiting":
			gr.RateLimit = k.rateLimit(c, p.line)
		case "cors":
			cors := &config.CORS{Origins: c.strs("origins"), Methods: c.strs("methods"), Headers: c.strs("headers"),
				ExposeHeaders: c.strs("exposed_headers"), AllowCredentials: c.boolean("credentials", false)}
			if len(cors.Origins) == 0 {
				cors.Origins = []string{"*"}
			}
			if v, ok := c.num("max_age"); ok {
				cors.MaxAge = config.Duration(time.Duration(v) * time.Second)
			}
			gr.CORS = cors
			c.rest("preflight_continue", "private_network")
		case "request-transformer":
			gr.RequestHeaders = k.transform(c, gr.RequestHeaders, "request-transformer")
		case "response-transformer":
			gr.ResponseHeaders = k.transform(c, gr.ResponseHeaders, "response-transformer")
		}
	}
	return true
}

func addRemove(h *config.HeaderRules, name string) *config.HeaderRules {
	if h == nil {
		h = &config.HeaderRules{}
	}
	h.Remove = append(h.Remove, name)
	return h
}

// rateLimit translates the rate-limiting plugin's shortest window.
func (k *kong) rateLimit(c *mapping, line int) *config.RateLimit {
	t := k.t
	var rl *config.RateLimit
	for _, w := range []struct {
		key string
		per time.Duration
	}{{"second", time.Second}, {"minute", time.Minute}, {"hour", time.Hour}, {"day", 24 * time.Hour}, {"month", 0}, {"year", 0}} {
		v, ok := c.num(w.key)
		if !ok || v <= 0 {
			continue
		}
		switch {
		case w.per == 0:
			t.note(c.keyLine(w.key), "plugin rate-limiting: the %s window not translated (a plan's quota counts per month)", w.key)
		case rl != nil:
			t.note(c.keyLine(w.key), "plugin rate-limiting: the %s window not translated: Gantry keeps one window per route, the shortest", w.key)
		default:
			rl = &config.RateLimit{Requests: int(v), Per: config.Duration(w.per)}
		}
	}
	if rl == nil {
		t.note(line, "plugin rate-limiting: no window Gantry can keep: not translated")
		return nil
	}
	switch by := c.str("limit_by"); by {
	case "", "consumer", "credential":
	case "ip":
		rl.Key = "ip"
	case "header":
		rl.Key = "header:" + c.str("header_name")
	default:
		t.note(c.keyLine("limit_by"), "plugin rate-limiting: limit_by %s not translated: per consumer, or per address on public routes", by)
	}
	if p := c.str("policy"); p == "redis" || p == "cluster" {
		t.note(c.keyLine("policy"), "plugin rate-limiting: policy %s: counters are shared through the counters section (driver: redis) in Gantry", p)
	}
	c.rest("policy", "fault_tolerant", "hide_client_headers", "redis", "redis_host", "redis_port", "redis_timeout", "redis_database", "sync_rate", "error_code", "error_message", "header_name")
	return rl
}

// transform translates the header part of request- and
// response-transformer: append adds, add and replace set, remove
// removes.
func (k *kong) transform(c *mapping, h *config.HeaderRules, plugin string) *config.HeaderRules {
	t := k.t
	if h == nil {
		h = &config.HeaderRules{}
	}
	pairs := func(op string, into *map[string]string) {
		m := c.sub(op, "plugin "+plugin+" "+op)
		for _, e := range m.list("headers") {
			hk, hv, ok := strings.Cut(e.Value, ":")
			if !ok {
				t.note(e.Line, "plugin %s: %s header %q not translated: want name:value", plugin, op, e.Value)
				continue
			}
			if *into == nil {
				*into = map[string]string{}
			}
			(*into)[strings.TrimSpace(hk)] = strings.TrimSpace(hv)
		}
		m.rest()
	}
	pairs("add", &h.Set)
	if sub := c.sub("add", ""); len(sub.strs("headers")) > 0 {
		t.note(c.keyLine("add"), "plugin %s: add (only when absent) translated as set (always)", plugin)
	}
	pairs("replace", &h.Set)
	pairs("append", &h.Add)
	rm := c.sub("remove", "plugin "+plugin+" remove")
	h.Remove = append(h.Remove, rm.strs("headers")...)
	rm.rest()
	c.rest("http_method", "dots_in_keys")
	if len(h.Set) == 0 && len(h.Add) == 0 && len(h.Remove) == 0 {
		return nil
	}
	return h
}
