package demo

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/examples"
)

// quickstart is the part of the config format these tests read; the full
// decoding belongs to internal/config.
type quickstart struct {
	Server struct {
		Listen string `yaml:"listen"`
	} `yaml:"server"`
	Admin struct {
		Listen string `yaml:"listen"`
		Token  string `yaml:"token"`
	} `yaml:"admin"`
	Upstreams map[string]struct {
		Targets []struct {
			URL    string `yaml:"url"`
			Weight int    `yaml:"weight"`
		} `yaml:"targets"`
		Lambda *struct {
			Function string `yaml:"function"`
			Endpoint string `yaml:"endpoint"`
		} `yaml:"lambda"`
	} `yaml:"upstreams"`
	Routes []struct {
		Name  string `yaml:"name"`
		Match struct {
			Path       string   `yaml:"path"`
			PathPrefix string   `yaml:"path_prefix"`
			Methods    []string `yaml:"methods"`
			Version    string   `yaml:"version"`
		} `yaml:"match"`
		Upstream  string `yaml:"upstream"`
		Aggregate *struct {
			Calls []struct {
				Name     string `yaml:"name"`
				Upstream string `yaml:"upstream"`
				Path     string `yaml:"path"`
			} `yaml:"calls"`
		} `yaml:"aggregate"`
		Rest map[string]any `yaml:",inline"`
	} `yaml:"routes"`
	Rest map[string]any `yaml:",inline"`
}

func loadQuickstart(t *testing.T) quickstart {
	t.Helper()
	var q quickstart
	if err := yaml.Unmarshal(examples.Quickstart, &q); err != nil {
		t.Fatalf("quickstart.yaml: %v", err)
	}
	return q
}

func TestQuickstartListensWhereTheDemoSays(t *testing.T) {
	q := loadQuickstart(t)
	if q.Server.Listen != gatewayAddr {
		t.Errorf("server.listen = %q, want %q", q.Server.Listen, gatewayAddr)
	}
	if q.Admin.Listen != adminAddr {
		t.Errorf("admin.listen = %q, want %q", q.Admin.Listen, adminAddr)
	}
	if q.Admin.Token != "" {
		t.Errorf("admin.token = %q, want none: the demo must start without environment variables", q.Admin.Token)
	}
}

func TestQuickstartUpstreamsAreTheDemoServices(t *testing.T) {
	type target struct {
		URL    string
		Weight int
	}
	want := map[string][]target{
		"users":         {{"http://" + usersAddr, 3}, {"http://" + users2Addr, 0}},
		"orders":        {{"http://" + ordersAddr, 0}},
		"orders-legacy": {{"http://" + ordersLegacyAddr, 0}},
		"chat":          {{"http://" + chatAddr, 0}},
		"llm":           {{"http://" + llmAddr, 0}},
	}
	got := map[string][]target{}
	functions := map[string]string{}
	for name, u := range loadQuickstart(t).Upstreams {
		for _, tg := range u.Targets {
			got[name] = append(got[name], target{tg.URL, tg.Weight})
		}
		if u.Lambda != nil {
			functions[name] = u.Lambda.Function + " at " + u.Lambda.Endpoint
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("upstreams mismatch (-want +got):\n%s", d)
	}
	wantFunctions := map[string]string{"greeter": functionName + " at http://" + functionAddr}
	if d := cmp.Diff(wantFunctions, functions); d != "" {
		t.Errorf("lambda upstreams mismatch (-want +got):\n%s", d)
	}
}

// TestQuickstartUsesOnlyBuiltFeatures keeps sections whose features are not
// built yet out of the config the demo runs: the gateway would refuse it.
func TestQuickstartUsesOnlyBuiltFeatures(t *testing.T) {
	q := loadQuickstart(t)
	allowedTop := map[string]bool{"version": true, "versioning": true, "plans": true, "consumers": true, "portal": true}
	for k := range q.Rest {
		if !allowedTop[k] {
			t.Errorf("top-level section %q in quickstart.yaml", k)
		}
	}
	allowedRoute := map[string]bool{
		"rewrite": true, "strip_prefix": true, "request_headers": true,
		"response_headers": true, "cors": true, "auth": true, "rate_limit": true, "llm": true,
	}
	names := map[string]bool{}
	for _, r := range q.Routes {
		if names[r.Name] {
			t.Errorf("route name %q used twice", r.Name)
		}
		names[r.Name] = true
		for k := range r.Rest {
			if !allowedRoute[k] {
				t.Errorf("routes[%s] uses %q", r.Name, k)
			}
		}
		if _, ok := q.Upstreams[r.Upstream]; !ok && r.Aggregate == nil {
			t.Errorf("routes[%s].upstream %q is not defined", r.Name, r.Upstream)
		}
		if r.Aggregate != nil {
			for _, c := range r.Aggregate.Calls {
				if _, ok := q.Upstreams[c.Upstream]; !ok {
					t.Errorf("routes[%s].aggregate.calls[%s].upstream %q is not defined", r.Name, c.Name, c.Upstream)
				}
			}
		}
	}
}

// TestQuickstartRoutesReachServedPaths sends, for every route (for an
// aggregate, every call), a request its match accepts straight to its
// upstream's targets, and checks that the sample service serves that path:
// a route pointing at nothing would only show up as a confusing 404 in the
// demo.
func TestQuickstartRoutesReachServedPaths(t *testing.T) {
	s := startTest(t)
	actual := map[string]string{
		usersAddr:        s.Addrs.Users,
		users2Addr:       s.Addrs.Users2,
		ordersAddr:       s.Addrs.Orders,
		ordersLegacyAddr: s.Addrs.OrdersLegacy,
		chatAddr:         s.Addrs.Chat,
		llmAddr:          s.Addrs.LLM,
	}
	q := loadQuickstart(t)
	probe := func(t *testing.T, upstream, method, path string) {
		t.Helper()
		for _, tg := range q.Upstreams[upstream].Targets {
			u, err := url.Parse(tg.URL)
			if err != nil {
				t.Fatal(err)
			}
			addr, ok := actual[u.Host]
			if !ok {
				t.Fatalf("target %s is not a demo service", tg.URL)
			}
			resp, body := get(t, method, "http://"+addr+path, nil)
			switch resp.StatusCode {
			case http.StatusNotFound, http.StatusMethodNotAllowed:
				t.Errorf("%s %s on %s = %d %s, want a served path", method, path, tg.URL, resp.StatusCode, body)
			}
		}
	}
	// Every placeholder, {id} or a call's {user.id}, stands for 1.
	placeholder := regexp.MustCompile(`\{[^}]*\}`)
	for _, r := range q.Routes {
		t.Run(r.Name, func(t *testing.T) {
			if r.Aggregate != nil {
				for _, c := range r.Aggregate.Calls {
					probe(t, c.Upstream, http.MethodGet, placeholder.ReplaceAllString(c.Path, "1"))
				}
				return
			}
			path := r.Match.Path
			if path == "" {
				path = r.Match.PathPrefix + "/7"
			}
			if strip, _ := r.Rest["strip_prefix"].(string); strip != "" {
				// A stripped prefix fronts the users service's paths.
				path = strings.TrimPrefix(r.Match.PathPrefix+"/users/1", strip)
			}
			path = strings.NewReplacer("{id}", "1").Replace(path)
			method := http.MethodGet
			if len(r.Match.Methods) > 0 {
				method = r.Match.Methods[0]
			}
			probe(t, r.Upstream, method, path)
		})
	}
}
