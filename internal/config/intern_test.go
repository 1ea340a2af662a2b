package config

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

func TestInternerStrings(t *testing.T) {
	var in interner
	long := strings.Repeat("x", slabBytes/4+1)
	tests := []struct {
		name string
		s    string
	}{
		{name: "empty", s: ""},
		{name: "route name", s: "orders"},
		{name: "upstream name", s: "billing"},
		{name: "longer than a slab's quarter", s: long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Clone(tt.s)
			got := in.intern(src)
			if got != tt.s {
				t.Fatalf("intern(%q) = %q", tt.s, got)
			}
			if again := in.intern(strings.Clone(tt.s)); tt.s != "" && unsafe.StringData(again) != unsafe.StringData(got) {
				t.Errorf("intern(%q) twice: two copies, want one", tt.s)
			}
			if tt.s != "" && unsafe.StringData(got) == unsafe.StringData(src) {
				t.Errorf("intern(%q) kept the parser's storage, want a copy", tt.s)
			}
		})
	}
}

// TestInternerSlabs checks that values fill one slab after another and
// stay intact when a slab is full.
func TestInternerSlabs(t *testing.T) {
	var in interner
	var got, want []string
	for i := range 2000 {
		s := "/svc" + strings.Repeat("a", i%7) + "/items/list"
		want = append(want, s)
		got = append(got, in.intern(s))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestInternerLists(t *testing.T) {
	cfg := &Config{Routes: []*Route{
		{Name: "orders", Match: Match{Methods: []string{"GET"}, Hosts: []string{"api.example.com"}}},
		{Name: "users", Match: Match{Methods: []string{"GET", "PUT"}}},
		{Name: "health"},
	}}
	var in interner
	in.lists(reflect.ValueOf(cfg))
	a, b := cfg.Routes[0].Match.Methods, cfg.Routes[1].Match.Methods
	if cap(a) != len(a) || cap(b) != len(b) {
		t.Fatalf("capacities %d and %d, want the lengths %d and %d", cap(a), cap(b), len(a), len(b))
	}
	// An append must not write into the next list of the slab.
	_ = append(a, "DELETE")
	if got := cfg.Routes[1].Match.Methods; len(got) != 2 || got[0] != "GET" || got[1] != "PUT" {
		t.Errorf("users methods = %q after an append to orders', want [GET PUT]", got)
	}
	if got := cfg.Routes[0].Match.Hosts; len(got) != 1 || got[0] != "api.example.com" {
		t.Errorf("orders hosts = %q, want [api.example.com]", got)
	}
	if cfg.Routes[2].Match.Methods != nil {
		t.Errorf("health methods = %q, want nil (none given)", cfg.Routes[2].Match.Methods)
	}
}
