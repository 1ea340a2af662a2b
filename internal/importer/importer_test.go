package importer

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var formats = []struct {
	name      string
	translate func([]byte, Options) (*Result, error)
}{
	{"kong", Kong},
	{"gateway-api", GatewayAPI},
	{"openapi", OpenAPI},
}

// TestTranslateSamples translates each sample and compares the YAML and
// the list of untranslated items with testdata/*.golden (go test -update
// rewrites them). The YAML must be a valid configuration.
func TestTranslateSamples(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", f.name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := f.translate(src, Options{})
			if err != nil {
				t.Fatalf("%s() error: %v", f.name, err)
			}
			out, err := Render(res.Config, []string{"Imported from testdata/" + f.name + ".yaml."})
			if err != nil {
				t.Fatalf("Render() error: %v", err)
			}
			if _, err := config.Parse(out, ""); err != nil {
				t.Errorf("the translation does not validate:\n%v\n%s", err, out)
			}
			var notes strings.Builder
			for _, n := range res.Notes {
				if n.Line == 0 {
					t.Errorf("note without a line: %s", n.Message)
				}
				fmt.Fprintln(&notes, n)
			}
			golden(t, f.name+".golden.yaml", out)
			golden(t, f.name+".notes.golden", []byte(notes.String()))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading %s (go test -update writes it): %v", file, err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, diff)
	}
}

func TestTargetsReplaceAddresses(t *testing.T) {
	tests := []struct {
		format string
		opt    Options
		// want maps an upstream to its first target's URL.
		want map[string]string
	}{
		{"kong", Options{Targets: map[string]string{"catalog": "http://127.0.0.1:9001", "orders": "http://127.0.0.1:9002/"}},
			map[string]string{"catalog": "http://127.0.0.1:9001/v2", "orders": "http://127.0.0.1:9002/api", "accounts": "http://accounts.shop.internal:9000"}},
		{"kong", Options{Targets: map[string]string{"10.0.1.10:8080": "http://127.0.0.1:9010"}},
			map[string]string{"orders": "http://127.0.0.1:9010/api"}},
		{"gateway-api", Options{Targets: map[string]string{"cart": "http://127.0.0.1:9003", "catalog-v1": "http://127.0.0.1:9004"}},
			map[string]string{"cart": "http://127.0.0.1:9003", "storefront-2-catalog": "http://127.0.0.1:9004/catalog"}},
		{"openapi", Options{Upstream: "stock", Targets: map[string]string{"stock": "http://127.0.0.1:9005"}},
			map[string]string{"stock": "http://127.0.0.1:9005"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", tt.format+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var res *Result
			for _, f := range formats {
				if f.name == tt.format {
					res, err = f.translate(src, tt.opt)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			for up, want := range tt.want {
				u, ok := res.Config.Upstreams[up]
				if !ok || len(u.Targets) == 0 {
					t.Errorf("no upstream %s in %v", up, res.Config.Upstreams)
					continue
				}
				if got := u.Targets[0].URL; got != want {
					t.Errorf("upstream %s target = %q, want %q", up, got, want)
				}
			}
		})
	}
}

func TestOpenAPIPattern(t *testing.T) {
	tests := []struct {
		in, want, bad string
	}{
		{in: "/items/{item-id}", want: "/items/{item_id}"},
		{in: "/a/{1st}/b", want: "/a/{p1st}/b"},
		{in: "/plain/path", want: "/plain/path"},
		{in: "/reports/{year}-{month}.csv", bad: "mixes a parameter"},
		{in: "/files/{name}.json", bad: "mixes a parameter"},
	}
	for _, tt := range tests {
		got, bad := openAPIPattern(tt.in)
		if got != tt.want || !strings.Contains(bad, tt.bad) || (tt.bad == "") != (bad == "") {
			t.Errorf("openAPIPattern(%q) = %q, %q; want %q, %q", tt.in, got, bad, tt.want, tt.bad)
		}
	}
}

// fuzzTranslate checks that a translation of arbitrary input returns an
// error or a result that renders, without panicking.
func fuzzTranslate(f *testing.F, sample string, translate func([]byte, Options) (*Result, error)) {
	if b, err := os.ReadFile(filepath.Join("testdata", sample)); err == nil {
		f.Add(b)
	}
	f.Add([]byte("a: [1, {b: *x}]"))
	f.Add([]byte("---\n- 1\n---\nkind: HTTPRoute\nspec: {rules: [{matches: ~, backendRefs: [{}]}]}\n"))
	f.Add([]byte("openapi: 3.1.0\nservers: [{url: 'http://x/{v}'}]\npaths: {/a/{b}: {get: {security: [{}]}}}\n"))
	f.Add([]byte("_format_version: '3.0'\nservices: [{url: 'http://h', routes: [{paths: [/], plugins: [{name: jwt}]}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := translate(data, Options{})
		if err != nil {
			return
		}
		if _, err := Render(res.Config, nil); err != nil {
			t.Fatalf("Render() error: %v", err)
		}
	})
}

func FuzzKong(f *testing.F)       { fuzzTranslate(f, "kong.yaml", Kong) }
func FuzzGatewayAPI(f *testing.F) { fuzzTranslate(f, "gateway-api.yaml", GatewayAPI) }
func FuzzOpenAPI(f *testing.F)    { fuzzTranslate(f, "openapi.yaml", OpenAPI) }
