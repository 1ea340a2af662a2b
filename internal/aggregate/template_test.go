package aggregate

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
)

// testEnv resolves {id} to "a b/c" and call 0 ("user") to a sample answer.
func testEnv(elem int) *env {
	dec := json.NewDecoder(strings.NewReader(`{"id":12345678901234567890,"name":"Ada \"A\"","ok":true,"none":null,
		"tags":["x/y","p q"],"address":{"city":"Zürich"},"items":[{"sku":"s-1"},{"sku":"s-2"}],"bad":"a\r\nX-Evil: 1"}`))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic(err)
	}
	return &env{params: []pipeline.Param{{Name: "id", Value: "a b/c"}}, results: []any{v}, elem: elem}
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    templateKind
		text    string
		elem    int
		want    string
		wantErr string
	}{
		{name: "literal", kind: kindPath, text: "/users", want: "/users"},
		{name: "param in path keeps its slashes", kind: kindPath, text: "/files/{id}", want: "/files/a%20b/c"},
		{name: "param in query", kind: kindPath, text: "/s?q={id}&x=1", want: "/s?q=a+b%2Fc&x=1"},
		{name: "number", kind: kindPath, text: "/u/{user.id}", want: "/u/12345678901234567890"},
		{name: "field escaped in a path", kind: kindPath, text: "/t/{user.tags.0}", want: "/t/x%2Fy"},
		{name: "field escaped in a query", kind: kindPath, text: "/t?tag={user.tags.1}", want: "/t?tag=p+q"},
		{name: "nested", kind: kindPath, text: "/c/{user.address.city}", want: "/c/Z%C3%BCrich"},
		{name: "boolean", kind: kindPath, text: "/b/{user.ok}", want: "/b/true"},
		{name: "fan-out element", kind: kindPath, text: "/p/{user.items.*.sku}", elem: 1, want: "/p/s-2"},
		{name: "doubled brace", kind: kindPath, text: "/a{{b}", want: "/a{b}"},
		{name: "missing field", kind: kindPath, text: "/u/{user.email}", wantErr: `{user.email}: user has no field "email"`},
		{name: "missing nested field", kind: kindPath, text: "/u/{user.address.zip}", wantErr: `{user.address.zip}: user.address has no field "zip"`},
		{name: "index out of range", kind: kindPath, text: "/u/{user.tags.5}", wantErr: `{user.tags.5}: user.tags is an array of 2, with no element "5"`},
		{name: "field of a string", kind: kindPath, text: "/u/{user.name.first}", wantErr: `{user.name.first}: user.name is a string, with no field "first"`},
		{name: "object in a path", kind: kindPath, text: "/u/{user.address}", wantErr: `{user.address}: is an object, not a string, number or boolean`},
		{name: "null in a path", kind: kindPath, text: "/u/{user.none}", wantErr: `{user.none}: is null, not a string`},
		{name: "fan-out past the end", kind: kindPath, text: "/p/{user.items.*.sku}", elem: 2, wantErr: "user.items has no element 2"},
		{name: "header value", kind: kindHeader, text: "Bearer {user.name}", want: `Bearer Ada "A"`},
		{name: "header injection", kind: kindHeader, text: "{user.bad}", wantErr: "control characters"},
		{name: "body values", kind: kindBody, text: `{"id": {user.id}, "name": {user.name}, "addr": {user.address}, "none": {user.none}, "p": {id}}`,
			want: `{"id": 12345678901234567890, "name": "Ada \"A\"", "addr": {"city":"Zürich"}, "none": null, "p": "a b/c"}`},
		{name: "body inside strings", kind: kindBody, text: `{"q": "name={user.name} id={user.id} tags={user.tags} p={id}", "esc": "\"{user.ok}\\"}`,
			want: `{"q": "name=Ada \"A\" id=12345678901234567890 tags=[\"x/y\",\"p q\"] p=a b/c", "esc": "\"true\\"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, err := parseTemplate(tt.text, tt.kind)
			if err != nil {
				t.Fatalf("parseTemplate(%q) error: %v", tt.text, err)
			}
			for _, r := range tp.refs() {
				if !r.isParam() {
					r.call = 0
				}
			}
			got, err := tp.render(nil, testEnv(tt.elem))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("render(%q) error = %v, want %q", tt.text, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("render(%q) error: %v", tt.text, err)
			}
			if string(got) != tt.want {
				t.Errorf("render(%q) = %s, want %s", tt.text, got, tt.want)
			}
			if tt.kind == kindBody && !json.Valid(got) {
				t.Errorf("render(%q) = %s, not valid JSON", tt.text, got)
			}
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ text, want string }{
		{"/u/{id", `unclosed placeholder (write "{{" for a literal "{") at offset 3`},
		{"/u/{a.}", `{a.}: empty field name at offset 3`},
		{"/u/{a-b}", `{a-b}: want a name of letters, digits and _ before the first dot`},
		{"/u/{a.b c}", `{a.b c}: field "b c" may not hold {, *, spaces or control characters`},
		{"/u/{a.b{c}", `field "b{c" may not hold`},
	}
	for _, tt := range tests {
		_, err := parseTemplate(tt.text, kindPath)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseTemplate(%q) error = %v, want %q", tt.text, err, tt.want)
		}
	}
	// Braces that cannot start a placeholder are text: JSON bodies read as
	// written.
	for _, text := range []string{`{"a": 1}`, `{ }`, `}`, `{}`, `{{`, `{1}`} {
		tp, err := parseTemplate(text, kindBody)
		if err != nil || len(tp.refs()) != 0 {
			t.Errorf("parseTemplate(%q) = %v refs, %v; want plain text", text, len(tp.refs()), err)
		}
	}
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r\x00\x1f", "ü€😀", "\u2028\u2029", "bad\xffutf8", "<&>"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Errorf("appendString(%q) decodes to %q, want %q", s, back, want)
		}
	}
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"/users/{id}", "/orders?user_id={user.id}", "/p/{user.items.*.sku}", `{"id": {user.id}, "q": "{user.name}"}`,
		"{{", "{", "}", "{a.", "{a..b}", "{a.*.*}", "/x/{id}?{user.tags.0}#", `"\"{user.ok}\\"`, "{_.0}",
	} {
		for kind := range 3 {
			f.Add(s, uint8(kind))
		}
	}
	f.Fuzz(func(t *testing.T, s string, k uint8) {
		kind := templateKind(k % 3)
		tp, err := parseTemplate(s, kind)
		if err != nil {
			var te *TemplateError
			if !asTemplateError(err, &te) || te.Offset < 0 || te.Offset >= len(s) {
				t.Fatalf("parseTemplate(%q) error %v: want a TemplateError with an offset inside the text", s, err)
			}
			return
		}
		// Without placeholders, a template is its text with "{{" undoubled.
		if len(tp.refs()) == 0 {
			got, err := tp.render(nil, testEnv(0))
			if err != nil || string(got) != undouble(s) {
				t.Fatalf("render(%q) = %q, %v; want %q", s, got, err, undouble(s))
			}
			return
		}
		for _, r := range tp.refs() {
			if r.isParam() {
				continue
			}
			if r.name == "" || len(r.path) == 0 || (r.star >= 0 && r.path[r.star] != "*") {
				t.Fatalf("parseTemplate(%q): malformed ref %+v", s, r)
			}
			r.call = 0
		}
		// Rendering never panics, whatever the answer holds.
		out, err := tp.render(nil, testEnv(0))
		if err == nil && kind == kindHeader && !wire.ValidFieldValue(string(out)) && wire.ValidFieldValue(undouble(s)) {
			t.Fatalf("render(%q) = %q: a value brought control characters into a header", s, out)
		}
		if err == nil && kind != kindBody && !utf8.Valid(out) && utf8.ValidString(s) {
			t.Fatalf("render(%q) = %q: invalid UTF-8 from valid input", s, out)
		}
	})
}

// undouble replaces "{{" with "{", left to right, as the parser reads it.
func undouble(s string) string { return strings.ReplaceAll(s, "{{", "{") }

func asTemplateError(err error, te **TemplateError) bool {
	e, ok := err.(*TemplateError)
	*te = e
	return ok
}

func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x"],"b":null,"c":true}`, `"\u2028"`, `[[]]`, `12345678901234567890123`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		out := appendJSON(nil, v)
		if !json.Valid(out) {
			t.Fatalf("appendJSON(%s) = %s, not valid JSON", s, out)
		}
		// Re-encoding is stable: encode(decode(encode(v))) == encode(v).
		dec = json.NewDecoder(strings.NewReader(string(out)))
		dec.UseNumber()
		var back any
		if err := dec.Decode(&back); err != nil {
			t.Fatal(err)
		}
		if again := appendJSON(nil, back); string(again) != string(out) {
			t.Fatalf("appendJSON not stable: %s then %s", out, again)
		}
	})
}
