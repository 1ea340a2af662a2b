package aggregate

import (
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/google/go-cmp/cmp"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	c := func(name, path string) *config.AggregateCall {
		return &config.AggregateCall{Name: name, Upstream: "users", Path: path}
	}
	optional := func(ac *config.AggregateCall) *config.AggregateCall { ac.Optional = true; return ac }
	tests := []struct {
		name   string
		params []string
		calls  []*config.AggregateCall
		// want are "path: message fragment" entries, in order.
		want []string
	}{
		{
			name:   "the contract's dashboard",
			params: []string{"user_id"},
			calls: []*config.AggregateCall{
				c("user", "/users/{user_id}"),
				{Name: "orders", Upstream: "orders", Path: "/orders?user_id={user.id}", Select: []string{"id", "total", "status"}, Optional: true},
			},
		},
		{
			name:   "calls in any order",
			params: []string{"id"},
			calls:  []*config.AggregateCall{c("orders", "/orders?u={user.id}"), c("user", "/users/{id}")},
		},
		{
			name:   "unknown call",
			params: []string{"user_id"},
			calls:  []*config.AggregateCall{c("user", "/users/{user_id}"), c("orders", "/orders?u={usr.id}")},
			want:   []string{`calls[1].path: {usr.id} refers to no call and no route parameter (calls: orders, user)`},
		},
		{
			name:   "unknown route parameter",
			params: []string{"user_id"},
			calls:  []*config.AggregateCall{c("user", "/users/{userid}")},
			want:   []string{`calls[0].path: {userid} is not a path parameter of the route (parameters: user_id)`},
		},
		{
			name:  "parameter on a route without any",
			calls: []*config.AggregateCall{c("user", "/users/{id}")},
			want:  []string{`calls[0].path: {id} is not a path parameter: the route's path has none`},
		},
		{
			name:  "a call's whole answer",
			calls: []*config.AggregateCall{c("user", "/users/1"), c("orders", "/orders/{user}")},
			want:  []string{`calls[1].path: {user} names call "user" but no field of its answer; write {user.field}`},
		},
		{
			name:  "self reference",
			calls: []*config.AggregateCall{c("user", "/users/{user.id}")},
			want:  []string{`calls[0].path: {user.id} uses the answer of call "user" itself`},
		},
		{
			name:  "cycle of two",
			calls: []*config.AggregateCall{c("a", "/a/{b.id}"), c("b", "/b/{a.id}")},
			want:  []string{`calls[0].path: calls "a" -> "b" -> "a" use each other's answers in a cycle`},
		},
		{
			name: "cycle of three through headers and body, behind a good call",
			calls: []*config.AggregateCall{
				c("root", "/r"),
				{Name: "a", Upstream: "users", Path: "/a/{root.id}", Headers: map[string]string{"X-C": "{c.id}"}},
				{Name: "b", Upstream: "users", Path: "/b", Body: `{"a": {a.id}}`},
				c("c", "/c/{b.id}"),
			},
			want: []string{`calls[1].headers.X-C: calls "a" -> "c" -> "b" -> "a" use each other's answers in a cycle`},
		},
		{
			name:  "required call needs an optional one",
			calls: []*config.AggregateCall{optional(c("user", "/u")), c("orders", "/o/{user.id}")},
			want:  []string{`calls[1].path: uses the answer of optional call "user", so it must be optional too`},
		},
		{
			name:  "fan-out over two arrays",
			calls: []*config.AggregateCall{c("order", "/o"), c("items", "/i/{order.items.*.id}?sku={order.lines.*.sku}")},
			want:  []string{`calls[1].path: {order.lines.*.sku} fans out over another array than {order.items.*.id}`},
		},
		{
			name:  "fan-out over one array twice",
			calls: []*config.AggregateCall{c("order", "/o"), c("items", "/i/{order.items.*.id}?sku={order.items.*.sku}")},
		},
		{
			name:  "unclosed placeholder",
			calls: []*config.AggregateCall{c("user", "/users/{user_id")},
			want:  []string{`calls[0].path: unclosed placeholder`},
		},
		{
			name:  "empty field",
			calls: []*config.AggregateCall{c("user", "/u"), c("o", "/o/{user..id}")},
			want:  []string{`calls[1].path: {user..id}: empty field name`},
		},
		{
			name:  "two stars",
			calls: []*config.AggregateCall{c("user", "/u"), c("o", "/o/{user.*.items.*}")},
			want:  []string{`calls[1].path: {user.*.items.*}: only one * per placeholder`},
		},
		{
			name:  "invalid path text",
			calls: []*config.AggregateCall{c("user", "/users/a b")},
			want:  []string{`calls[0].path: "/users/a b": a path cannot hold spaces`},
		},
		{
			name:  "framing header",
			calls: []*config.AggregateCall{{Name: "user", Upstream: "users", Path: "/u", Headers: map[string]string{"content-length": "1", "X-Ok": "1"}}},
			want:  []string{`calls[0].headers.content-length: Content-Length is set by the gateway`},
		},
		{
			name: "rename problems",
			calls: []*config.AggregateCall{
				{Name: "user", Upstream: "users", Path: "/u", Select: []string{"id", "name"}, Rename: map[string]string{"email": "mail", "id": "name2", "name": "name2", "address.city": "city"}},
			},
			want: []string{
				`calls[0].rename.address.city: rename applies to top-level fields`,
				`calls[0].rename.email: "email" is not kept by select`,
				`calls[0].rename.name: "id" and "name" would both be renamed to "name2"`,
			},
		},
		{
			name:  "bad select",
			calls: []*config.AggregateCall{{Name: "user", Upstream: "users", Path: "/u", Select: []string{"address..city"}}},
			want:  []string{`calls[0].select[0]: "address..city": want a field name`},
		},
		{
			name:  "flatten a fan-out",
			calls: []*config.AggregateCall{c("order", "/o"), {Name: "items", Upstream: "users", Path: "/i/{order.items.*}", Flatten: true}},
			want:  []string{`calls[1].flatten: a call that fans out answers an array`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := Check(&config.Aggregate{Calls: tt.calls}, tt.params)
			var got []string
			for _, p := range ps {
				got = append(got, p.Error())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Check() = %q, want %d problems like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestNewReportsProblemsWithRoutePaths(t *testing.T) {
	t.Parallel()
	pool, err := upstream.NewPool("users", &config.Upstream{Targets: []*config.Target{{URL: "http://127.0.0.1:9101", Weight: 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := &config.Route{
		Name:           "dashboard",
		Match:          config.Match{Path: "/dashboard/{user_id}"},
		RequestHeaders: &config.HeaderRules{Set: map[string]string{"Transfer-Encoding": "chunked"}},
		Aggregate: calls(
			&config.AggregateCall{Name: "user", Upstream: "users", Path: "/users/{user_id}"},
			&config.AggregateCall{Name: "orders", Upstream: "orders", Path: "/orders/{orders.id}"},
		),
	}
	_, err = New(rc, Deps{Pools: map[string]*upstream.Pool{"users": pool}, At: "routes[3]"})
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("New() error = %v, want config.Problems", err)
	}
	want := config.Problems{
		{Path: "routes[3].aggregate.calls[1].path", Message: `{orders.id} uses the answer of call "orders" itself; a call can use only other calls' answers`},
		{Path: "routes[3].request_headers", Message: "set: header Transfer-Encoding cannot be changed by a rule"},
		{Path: "routes[3].aggregate.calls[1].upstream", Message: `upstream "orders" has no usable targets`},
	}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("New() problems (-want +got):\n%s", diff)
	}
}

func TestPathParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    []string
	}{
		{"/dashboard/{user_id}", []string{"user_id"}},
		{"/a/{x}/b/{rest...}", []string{"x", "rest"}},
		{"/static", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, pathParams(tt.pattern)); diff != "" {
			t.Errorf("pathParams(%q) (-want +got):\n%s", tt.pattern, diff)
		}
	}
}
