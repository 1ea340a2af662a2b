package router

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// benchConfig builds n routes in a realistic mix, by i%10: 0-5 distinct
// static paths, 6-7 parameter patterns, 8 prefixes, 9 static paths on a
// host of their own. A few catch-all and wildcard-host routes ride along.
func benchConfig(n int) *config.Config {
	cfg := &config.Config{
		Versioning: &config.Versioning{From: []string{"path", "header:API-Version"}, Default: "v1"},
	}
	add := func(name string, m config.Match) {
		cfg.Routes = append(cfg.Routes, &config.Route{Name: name, Match: m, Upstream: "users"})
	}
	for i := range n {
		name := fmt.Sprintf("r%d", i)
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			add(name, config.Match{Path: fmt.Sprintf("/svc%d/items/list", i), Methods: []string{"GET"}})
		case 6:
			add(name, config.Match{Path: fmt.Sprintf("/svc%d/users/{id}", i), Methods: []string{"GET", "PUT"}})
		case 7:
			add(name, config.Match{Path: fmt.Sprintf("/svc%d/users/{id}/orders/{order}", i)})
		case 8:
			add(name, config.Match{PathPrefix: fmt.Sprintf("/svc%d/assets/", i)})
		case 9:
			add(name, config.Match{Hosts: []string{fmt.Sprintf("tenant%d.example.com", i)}, Path: fmt.Sprintf("/svc%d/items/list", i)})
		}
	}
	add("files", config.Match{Path: "/files/{path...}"})
	add("wild", config.Match{Hosts: []string{"*.example.com"}, PathPrefix: "/wild"})
	add("v2-orders", config.Match{PathPrefix: "/orders", Version: "v2"})
	return cfg
}

type benchCase struct {
	name, host, path string
	route            string // route that must match; "" for a 404
	params           int
}

func benchCases(n int) []benchCase {
	base := n - 10 // the last full round of the mix
	return []benchCase{
		{name: "static", host: "api.example.com", path: fmt.Sprintf("/svc%d/items/list", base), route: fmt.Sprintf("r%d", base)},
		{name: "static-host", host: fmt.Sprintf("tenant%d.example.com", base+9), path: fmt.Sprintf("/svc%d/items/list", base+9), route: fmt.Sprintf("r%d", base+9)},
		{name: "param", host: "api.example.com", path: fmt.Sprintf("/svc%d/users/42", base+6), route: fmt.Sprintf("r%d", base+6), params: 1},
		{name: "param2", host: "api.example.com", path: fmt.Sprintf("/svc%d/users/42/orders/7", base+7), route: fmt.Sprintf("r%d", base+7), params: 2},
		{name: "catch-all", host: "api.example.com", path: "/files/a/b/c.txt", route: "files", params: 1},
		{name: "prefix", host: "api.example.com", path: fmt.Sprintf("/svc%d/assets/css/app.css", base+8), route: fmt.Sprintf("r%d", base+8)},
		{name: "version-path", host: "api.example.com", path: "/v2/orders/7", route: "v2-orders"},
		{name: "miss", host: "api.example.com", path: "/nowhere/to/be/found"},
	}
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 10000} {
		tbl := mustCompile(b, benchConfig(n))
		for _, bc := range benchCases(n) {
			b.Run(fmt.Sprintf("routes=%d/%s", n, bc.name), func(b *testing.B) {
				r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: bc.path}, Header: http.Header{"Accept": {"*/*"}}}
				checkBench(b, tbl.Match(r, bc.host, bc.path), bc)
				// The server matches into its exchange's parameter storage.
				buf := make([]pipeline.Param, 0, 4)
				b.ReportAllocs()
				for b.Loop() {
					tbl.MatchBuf(r, bc.host, bc.path, buf)
				}
			})
		}
	}
}

func BenchmarkMatchParallel(b *testing.B) {
	for _, n := range []int{10, 10000} {
		tbl := mustCompile(b, benchConfig(n))
		for _, bc := range benchCases(n) {
			if bc.name != "static" && bc.name != "param" {
				continue
			}
			b.Run(fmt.Sprintf("routes=%d/%s", n, bc.name), func(b *testing.B) {
				checkBench(b, tbl.Match(&http.Request{Method: http.MethodGet}, bc.host, bc.path), bc)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: bc.path}, Header: http.Header{}}
					buf := make([]pipeline.Param, 0, 4)
					for pb.Next() {
						tbl.MatchBuf(r, bc.host, bc.path, buf)
					}
				})
			})
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	cfg := benchConfig(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func checkBench(b *testing.B, res Result, bc benchCase) {
	b.Helper()
	got := ""
	if res.Route != nil {
		got = res.Route.Name
	}
	if got != bc.route || len(res.Params) != bc.params {
		b.Fatalf("Match(%s%s) = %q with %d params, want %q with %d", bc.host, bc.path, got, len(res.Params), bc.route, bc.params)
	}
}

// TestMatchAllocs holds Match to its budget: no allocation for static and
// prefix routes and misses, one (the Params slice) for patterns.
func TestMatchAllocs(t *testing.T) {
	tbl := mustCompile(t, benchConfig(1000))
	for _, bc := range benchCases(1000) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: bc.path}, Header: http.Header{}}
		want := 0.0
		if bc.params > 0 {
			want = 1
		}
		if got := testing.AllocsPerRun(100, func() { tbl.Match(r, bc.host, bc.path) }); got != want {
			t.Errorf("%s: Match allocates %v times, want %v", bc.name, got, want)
		}
	}
}
