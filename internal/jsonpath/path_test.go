package jsonpath

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []step
		err      string
	}{
		{name: "one name", in: "debug", want: []step{{key: "debug"}}},
		{name: "nested", in: "meta.channel", want: []step{{key: "meta"}, {key: "channel"}}},
		{name: "array", in: "items[].cost", want: []step{{key: "items"}, {each: true}, {key: "cost"}}},
		{name: "nested arrays", in: "grid[][].v", want: []step{{key: "grid"}, {each: true}, {each: true}, {key: "v"}}},
		{name: "root array", in: "[].id", want: []step{{each: true}, {key: "id"}}},
		{name: "escaped dot", in: `a\.b.c`, want: []step{{key: "a.b"}, {key: "c"}}},
		{name: "escaped brackets", in: `x\[\]`, want: []step{{key: "x[]"}}},
		{name: "escaped backslash", in: `a\\`, want: []step{{key: `a\`}}},
		{name: "unicode", in: "prix.€", want: []step{{key: "prix"}, {key: "€"}}},
		{name: "empty", in: "", err: "empty path"},
		{name: "leading dot", in: ".a", err: "at 0: empty name"},
		{name: "double dot", in: "a..b", err: "at 2: empty name"},
		{name: "trailing dot", in: "a.", err: "ends with '.'"},
		{name: "ends with array", in: "items[]", err: "must end with a name"},
		{name: "only array", in: "[]", err: "must end with a name"},
		{name: "index", in: "items[0].cost", err: "only [] is supported"},
		{name: "open bracket", in: "items[", err: "only [] is supported"},
		{name: "close bracket", in: "items]", err: "']' without '['"},
		{name: "name after brackets", in: "items[]cost", err: "want '.' or [] after []"},
		{name: "brackets after dot", in: "a.[].b", err: "[] must follow a name"},
		{name: "dangling backslash", in: `a\`, err: "backslash"},
		{name: "too long", in: strings.Repeat("a", MaxLen+1), err: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, p.steps, cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("Parse(%q) steps (-want +got):\n%s", tt.in, diff)
			}
			if p.String() != tt.in {
				t.Errorf("String() = %q, want %q", p.String(), tt.in)
			}
		})
	}
}

func TestParseName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{in: "user", want: "user"},
		{in: `user\.name`, want: "user.name"},
		{in: "user.name", err: "want one name"},
		{in: "items[].x", err: "want one name"},
		{in: "", err: "empty"},
	}
	for _, tt := range tests {
		got, err := ParseName(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseName(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

func encode(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestOps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, op, path, arg, doc, want string
	}{
		{name: "remove top", op: "remove", path: "debug", doc: `{"debug":true,"a":1}`, want: `{"a":1}`},
		{name: "remove nested", op: "remove", path: "meta.trace.id", doc: `{"meta":{"trace":{"id":"x","on":1}}}`, want: `{"meta":{"trace":{"on":1}}}`},
		{name: "remove in array", op: "remove", path: "items[].cost", doc: `{"items":[{"id":1,"cost":3},{"id":2},"str",{"cost":{"a":1}}]}`, want: `{"items":[{"id":1},{"id":2},"str",{}]}`},
		{name: "remove nested arrays", op: "remove", path: "orders[].lines[].cost", doc: `{"orders":[{"lines":[{"cost":1,"sku":"a"}]},{"lines":[]}]}`, want: `{"orders":[{"lines":[{"sku":"a"}]},{"lines":[]}]}`},
		{name: "remove root array", op: "remove", path: "[].secret", doc: `[{"secret":1,"id":2}]`, want: `[{"id":2}]`},
		{name: "remove missing", op: "remove", path: "a.b", doc: `{"a":"text"}`, want: `{"a":"text"}`},
		{name: "remove wrong shape", op: "remove", path: "items[].cost", doc: `{"items":{"cost":1}}`, want: `{"items":{"cost":1}}`},
		{name: "rename top", op: "rename", path: "usr", arg: "user", doc: `{"usr":{"id":1}}`, want: `{"user":{"id":1}}`},
		{name: "rename nested", op: "rename", path: "order.cust", arg: "customer", doc: `{"order":{"cust":"acme"}}`, want: `{"order":{"customer":"acme"}}`},
		{name: "rename in array", op: "rename", path: "items[].cst", arg: "cost", doc: `{"items":[{"cst":1},{"x":2}]}`, want: `{"items":[{"cost":1},{"x":2}]}`},
		{name: "rename replaces", op: "rename", path: "a", arg: "b", doc: `{"a":1,"b":2}`, want: `{"b":1}`},
		{name: "rename missing", op: "rename", path: "a", arg: "b", doc: `{"c":1}`, want: `{"c":1}`},
		{name: "set top", op: "set", path: "channel", arg: `"api"`, doc: `{}`, want: `{"channel":"api"}`},
		{name: "set creates objects", op: "set", path: "meta.source.channel", arg: `"api"`, doc: `{"a":1}`, want: `{"a":1,"meta":{"source":{"channel":"api"}}}`},
		{name: "set replaces", op: "set", path: "meta.n", arg: `2`, doc: `{"meta":{"n":1}}`, want: `{"meta":{"n":2}}`},
		{name: "set in array", op: "set", path: "items[].seen", arg: `true`, doc: `{"items":[{},{"seen":false},3]}`, want: `{"items":[{"seen":true},{"seen":true},3]}`},
		{name: "set no array to create", op: "set", path: "items[].seen", arg: `true`, doc: `{}`, want: `{}`},
		{name: "set over null", op: "set", path: "meta.a", arg: `null`, doc: `{"meta":null}`, want: `{"meta":{"a":null}}`},
		{name: "set not through scalar", op: "set", path: "meta.a", arg: `1`, doc: `{"meta":"x"}`, want: `{"meta":"x"}`},
		{name: "set on array doc", op: "set", path: "a", arg: `1`, doc: `[1]`, want: `[1]`},
		{name: "big number kept", op: "remove", path: "x", doc: `{"n":12345678901234567890123,"x":1}`, want: `{"n":12345678901234567890123}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			doc := decode(t, tt.doc)
			switch tt.op {
			case "remove":
				p.Remove(doc)
			case "rename":
				p.Rename(doc, tt.arg)
			case "set":
				p.Set(doc, decode(t, tt.arg))
			}
			if got := encode(t, doc); got != tt.want {
				t.Errorf("%s %s on %s = %s, want %s", tt.op, tt.path, tt.doc, got, tt.want)
			}
		})
	}
}
