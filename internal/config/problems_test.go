package config

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProblemError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"everything", Problem{File: "gantry.yaml", Line: 12, Path: "routes[2].upstream", Message: `unknown upstream "usrs"`}, `gantry.yaml:12: routes[2].upstream: unknown upstream "usrs"`},
		{"no file", Problem{Line: 12, Path: "routes[2].upstream", Message: "m"}, "line 12: routes[2].upstream: m"},
		{"no line", Problem{File: "gantry.yaml", Path: "version", Message: "m"}, "gantry.yaml: version: m"},
		{"no path", Problem{File: "gantry.yaml", Line: 3, Message: "m"}, "gantry.yaml:3: m"},
		{"message only", Problem{Message: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, got, tt.want)
		}
	}
	ps := Problems{tests[0].p, tests[1].p}
	if got, want := ps.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Problems.Error() = %q, want %q", got, want)
	}
	if err := (Problems{}).Err(); err != nil {
		t.Errorf("empty Problems.Err() = %v, want nil", err)
	}
	var target Problems
	if !errors.As(ps.Err(), &target) || len(target) != 2 {
		t.Errorf("errors.As(Problems.Err()) = %v, want the two problems", target)
	}
}

func TestLineFallsBackToParent(t *testing.T) {
	t.Parallel()
	c := &Config{File: "gantry.yaml", Lines: map[string]int{
		"routes":                     10,
		"routes[2]":                  20,
		"routes[2].match":            21,
		"upstreams.users":            40,
		"upstreams.users.targets[0]": 42,
	}}
	tests := []struct {
		path string
		want int
	}{
		{"routes[2].match", 21},
		{"routes[2].match.path", 21},
		{"routes[2].upstream", 20},
		{"routes[3].name", 10},
		{"upstreams.users.targets[0].url", 42},
		{"upstreams.users.balancer", 40},
		{"server.listen", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := c.Line(tt.path); got != tt.want {
			t.Errorf("Line(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	p := c.Problem("routes[2].match.path", "bad pattern %q", "/{x")
	if want := (Problem{File: "gantry.yaml", Line: 21, Path: "routes[2].match.path", Message: `bad pattern "/{x"`}); p != want {
		t.Errorf("Problem() = %+v, want %+v", p, want)
	}
}

func TestLocate(t *testing.T) {
	t.Parallel()
	c := &Config{File: "gantry.yaml", Lines: map[string]int{"routes[0]": 5, "routes[1]": 9, "routes[1].match.path": 10}}
	in := Problems{
		{Path: "routes[1].match.path", Message: "second"},
		{Path: "plugins", Message: "unplaced"},
		{Path: "routes[0].rewrite", Message: "first"},
		{Path: "routes[1]", Line: 7, Message: "kept line"},
	}
	got := c.Locate(in)
	want := Problems{
		{File: "gantry.yaml", Line: 5, Path: "routes[0].rewrite", Message: "first"},
		{File: "gantry.yaml", Line: 7, Path: "routes[1]", Message: "kept line"},
		{File: "gantry.yaml", Line: 10, Path: "routes[1].match.path", Message: "second"},
		{File: "gantry.yaml", Path: "plugins", Message: "unplaced"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Locate (-want +got):\n%s", diff)
	}
	if in[0].Line != 0 {
		t.Error("Locate changed its argument")
	}
}
