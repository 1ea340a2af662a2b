package config

import (
	"strings"
	"testing"
)

func TestCheckNewConsumer(t *testing.T) {
	plans := map[string]*Plan{"free": {}, "pro": {}}
	long := strings.Repeat("a", 129)
	tests := []struct {
		name   string
		plans  map[string]*Plan
		id     string
		plan   string
		groups []string
		want   string // "" means accepted
	}{
		{name: "plain", id: "acme"},
		{name: "known plan", id: "acme", plan: "pro", groups: []string{"beta"}},
		{name: "every id character", id: "a.b_c-d@e9"},
		{name: "128 characters", id: long[:128]},
		{name: "unknown plan", id: "acme", plan: "nope", want: `plan: no plan named "nope" (known: free, pro)`},
		{name: "plan with no plans defined", plans: map[string]*Plan{}, id: "acme", plan: "pro", want: `plan: no plan named "pro" (known: none defined)`},
		{name: "nil plans", plans: nil, id: "acme", plan: "pro", want: "plan: no plan named"},
		{name: "empty id", id: "", want: "id: want 1-128 characters"},
		{name: "id too long", id: long, want: "id: want 1-128"},
		{name: "id leading dot", id: ".acme", want: "id: "},
		{name: "id with slash", id: "ac/me", want: "id: "},
		{name: "empty group", id: "acme", groups: []string{""}, want: "groups: names must be 1-128 characters"},
		{name: "group too long", id: "acme", groups: []string{long}, want: "groups: "},
		{name: "group with a comma", id: "acme", groups: []string{"a,b"}, want: "groups: "},
		{name: "group with a space", id: "acme", groups: []string{"a b"}, want: "groups: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plans
			if tt.plans != nil || strings.HasPrefix(tt.name, "nil") {
				p = tt.plans
			}
			err := CheckNewConsumer(p, tt.id, tt.plan, tt.groups)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckNewConsumer = %v, want accepted", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("CheckNewConsumer = %v, want %q", err, tt.want)
			}
		})
	}
}
