package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func splitRoute() *Route {
	return &Route{
		Name: "orders", Match: Match{PathPrefix: "/orders"},
		Split: []*SplitSide{
			{Upstream: "orders", Weight: 90},
			{Upstream: "users", Weight: 10},
			{Upstream: "users", Match: &SplitMatch{Headers: map[string]string{"X-Canary": "1"}}},
		},
	}
}

func TestValidateShaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(r *Route)
		wantPath string
		wantMsg  string
	}{
		{name: "valid split", mutate: func(r *Route) {}},
		{name: "split and upstream", mutate: func(r *Route) { r.Upstream = "orders" }, wantPath: "routes[1].split", wantMsg: "one of upstream, split or aggregate"},
		{name: "empty split", mutate: func(r *Route) { r.Split = []*SplitSide{} }, wantPath: "routes[1].split", wantMsg: "want a list"},
		{name: "unknown upstream", mutate: func(r *Route) { r.Split[0].Upstream = "billing" }, wantPath: "routes[1].split[0].upstream", wantMsg: `unknown upstream "billing"`},
		{name: "missing upstream", mutate: func(r *Route) { r.Split[0].Upstream = "" }, wantPath: "routes[1].split[0].upstream", wantMsg: "required"},
		{name: "zero weight", mutate: func(r *Route) { r.Split[0].Weight = 0 }, wantPath: "routes[1].split[0].weight", wantMsg: "at least 1"},
		{name: "weight and match", mutate: func(r *Route) { r.Split[2].Weight = 5 }, wantPath: "routes[1].split[2]", wantMsg: "not both"},
		{name: "only matches", mutate: func(r *Route) { r.Split = r.Split[2:] }, wantPath: "routes[1].split", wantMsg: "at least one side with a weight"},
		{name: "empty match", mutate: func(r *Route) { r.Split[2].Match = &SplitMatch{} }, wantPath: "routes[1].split[2].match", wantMsg: "headers or cookies"},
		{name: "bad match header", mutate: func(r *Route) { r.Split[2].Match.Headers = map[string]string{"X Canary": "1"} }, wantPath: "routes[1].split[2].match.headers.X Canary", wantMsg: "header name"},
		{name: "bad match cookie", mutate: func(r *Route) { r.Split[2].Match.Cookies = map[string]string{"a;b": "1"} }, wantPath: "routes[1].split[2].match.cookies.a;b", wantMsg: "cookie name"},
		{name: "sticky", mutate: func(r *Route) { r.Sticky = &Sticky{Cookie: "gantry-split"} }},
		{name: "sticky without split", mutate: func(r *Route) { r.Split, r.Upstream, r.Sticky = nil, "orders", &Sticky{Cookie: "s"} }, wantPath: "routes[1].sticky", wantMsg: "with a split only"},
		{name: "sticky bad cookie", mutate: func(r *Route) { r.Sticky = &Sticky{Cookie: "a=b"} }, wantPath: "routes[1].sticky.cookie", wantMsg: "cookie name"},
		{name: "sticky negative ttl", mutate: func(r *Route) { r.Sticky = &Sticky{Cookie: "s", TTL: -1} }, wantPath: "routes[1].sticky.ttl", wantMsg: "greater than zero"},
		{name: "mirror", mutate: func(r *Route) { r.Mirror = &Mirror{Upstream: "users", Sample: 0.05} }},
		{name: "mirror sample zero", mutate: func(r *Route) { r.Mirror = &Mirror{Upstream: "users", Sample: -0.1} }, wantPath: "routes[1].mirror.sample", wantMsg: "above 0"},
		{name: "mirror sample above one", mutate: func(r *Route) { r.Mirror = &Mirror{Upstream: "users", Sample: 1.5} }, wantPath: "routes[1].mirror.sample", wantMsg: "at most 1"},
		{name: "mirror lambda", mutate: func(r *Route) { r.Mirror = &Mirror{Upstream: "fn"} }, wantPath: "routes[1].mirror.upstream", wantMsg: "lambda function"},
		{name: "mirror workers", mutate: func(r *Route) { r.Mirror = &Mirror{Upstream: "users", Workers: 100} }, wantPath: "routes[1].mirror.workers", wantMsg: "1 to 64"},
		{name: "mirror on aggregate", mutate: func(r *Route) {
			*r = *aggregateRoute()
			r.Mirror = &Mirror{Upstream: "users"}
		}, wantPath: "routes[1].mirror", wantMsg: "upstream and split routes only"},
		{name: "transform", mutate: func(r *Route) {
			r.Transform = &Transform{RequestBody: &BodyTransform{Set: map[string]JSONValue{"meta.channel": JSONValue(`"api"`)}, Remove: []string{"debug"}, Rename: map[string]string{"usr": "user"}}}
		}},
		{name: "transform bad remove path", mutate: func(r *Route) {
			r.Transform = &Transform{ResponseBody: &BodyTransform{Remove: []string{"items[0].cost"}}}
		}, wantPath: "routes[1].transform.response_body.remove[0]", wantMsg: "only [] is supported"},
		{name: "transform bad set path", mutate: func(r *Route) {
			r.Transform = &Transform{RequestBody: &BodyTransform{Set: map[string]JSONValue{"a..b": nil}}}
		}, wantPath: "routes[1].transform.request_body.set.a..b", wantMsg: "empty name"},
		{name: "transform rename to a path", mutate: func(r *Route) {
			r.Transform = &Transform{RequestBody: &BodyTransform{Rename: map[string]string{"usr": "user.name"}}}
		}, wantPath: "routes[1].transform.request_body.rename.usr", wantMsg: "want one name"},
		{name: "transform max body", mutate: func(r *Route) {
			r.Transform = &Transform{MaxBodyBytes: -1, RequestBody: &BodyTransform{Remove: []string{"a"}}}
		}, wantPath: "routes[1].transform.max_body_bytes", wantMsg: "greater than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Upstreams["fn"] = &Upstream{Lambda: &Lambda{Function: "fn", Region: "us-east-1"}}
			r := splitRoute()
			tt.mutate(r)
			c.Routes = append(c.Routes, r)
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
					return
				}
			}
			t.Errorf("Validate() = %v\nwant a problem at %s containing %q", err, tt.wantPath, tt.wantMsg)
		})
	}
}

func TestShapingDefaultsAndDecode(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`version: 1
upstreams:
  v1: {targets: [{url: "http://127.0.0.1:9101"}]}
  v2: {targets: [{url: "http://127.0.0.1:9102"}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    split:
      - {upstream: v1, weight: 1}
    sticky: {cookie: side}
    mirror: {upstream: v2}
    transform:
      request_body: {set: {"meta.n": 2, "meta.s": "two", "meta.b": true, "meta.z": null, "meta.q": "007"}}
`), "gantry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if r.Sticky.TTL.D() != 24*time.Hour {
		t.Errorf("sticky.ttl = %v, want 24h", r.Sticky.TTL)
	}
	if m := r.Mirror; m.Sample != 1 || m.Queue != DefaultMirrorQueue || m.Workers != DefaultMirrorWorkers || m.Timeout != DefaultMirrorTimeout {
		t.Errorf("mirror = %+v, want the defaults", m)
	}
	if r.Transform.MaxBodyBytes != DefaultTransformMaxBody {
		t.Errorf("transform.max_body_bytes = %v", r.Transform.MaxBodyBytes)
	}
	want := map[string]string{"meta.n": "2", "meta.s": `"two"`, "meta.b": "true", "meta.z": "null", "meta.q": `"007"`}
	for k, v := range want {
		if got := string(r.Transform.RequestBody.Set[k].Raw()); got != v {
			t.Errorf("set[%q] = %s, want %s", k, got, v)
		}
	}

	_, err = Parse([]byte(`version: 1
upstreams:
  v1: {targets: [{url: "http://127.0.0.1:9101"}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: v1
    transform:
      request_body: {set: {"meta": {nested: 1}}}
`), "gantry.yaml")
	if err == nil || !strings.Contains(err.Error(), "routes[0].transform.request_body.set.meta") || !strings.Contains(err.Error(), "string, number, true, false or null") {
		t.Fatalf("an object as a set value: error = %v", err)
	}
}
