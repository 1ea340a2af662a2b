package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// keyMethod reads X-API-Key as the key authenticator does: the header is
// removed once read; "good" is consumer key-acme, "down" a storage outage.
type keyMethod struct{}

func (keyMethod) Authenticate(r *http.Request) (*pipeline.Consumer, [][2]string, bool, error) {
	k := r.Header.Get("X-API-Key")
	r.Header.Del("X-API-Key")
	switch k {
	case "":
		return nil, nil, false, nil
	case "good":
		return &pipeline.Consumer{ID: "key-acme"}, nil, true, nil
	case "down":
		return nil, nil, false, pipeline.Errorf(http.StatusServiceUnavailable, "storage_unavailable", "storage down")
	}
	return nil, nil, false, errors.New("invalid API key")
}
func (keyMethod) Challenge() string      { return `APIKey header="X-API-Key"` }
func (keyMethod) Credential() Credential { return APIKey }

// jwtMethod accepts the bearer token equal to its name, as consumer
// jwt-<name>, forwarding X-User-Sub.
type jwtMethod struct{ name string }

func (m jwtMethod) Authenticate(r *http.Request) (*pipeline.Consumer, [][2]string, bool, error) {
	v := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok {
		return nil, nil, false, nil
	}
	if tok != m.name {
		return nil, nil, false, errors.New("invalid bearer token: signature does not verify")
	}
	return &pipeline.Consumer{ID: "jwt-" + m.name}, [][2]string{{"X-User-Sub", "sub-" + m.name}}, true, nil
}
func (m jwtMethod) Challenge() string    { return `Bearer realm="` + m.name + `"` }
func (jwtMethod) Credential() Credential { return Bearer }

func TestCredentials(t *testing.T) {
	t.Parallel()
	key, corp, partner := keyMethod{}, jwtMethod{"corp"}, jwtMethod{"partner"}
	tests := []struct {
		name     string
		methods  []Method
		headers  map[string][]string
		want     int
		consumer string
		sub      string   // X-User-Sub forwarded
		authz    []string // Authorization forwarded
		message  string
	}{
		{name: "key alone", methods: []Method{key, corp}, headers: hdr("X-API-Key", "good"), want: 200, consumer: "key-acme"},
		{name: "token alone", methods: []Method{key, corp}, headers: hdr("Authorization", "Bearer corp"), want: 200, consumer: "jwt-corp", sub: "sub-corp", authz: []string{"Bearer corp"}},
		{name: "good key, forged token", methods: []Method{key, corp}, headers: hdr("X-API-Key", "good", "Authorization", "Bearer forged"), want: 401, message: "invalid credentials"},
		{name: "forged token listed first, good key", methods: []Method{corp, key}, headers: hdr("X-API-Key", "good", "Authorization", "Bearer forged"), want: 401},
		{name: "bad key, good token", methods: []Method{key, corp}, headers: hdr("X-API-Key", "wrong", "Authorization", "Bearer corp"), want: 401},
		{name: "both good: key listed first", methods: []Method{key, corp}, headers: hdr("X-API-Key", "good", "Authorization", "Bearer corp"), want: 200, consumer: "key-acme", authz: []string{"Bearer corp"}},
		{name: "both good: jwt listed first", methods: []Method{corp, key}, headers: hdr("X-API-Key", "good", "Authorization", "Bearer corp"), want: 200, consumer: "jwt-corp", sub: "sub-corp", authz: []string{"Bearer corp"}},
		{name: "one of two providers verifies", methods: []Method{corp, partner}, headers: hdr("Authorization", "Bearer partner"), want: 200, consumer: "jwt-partner", sub: "sub-partner", authz: []string{"Bearer partner"}},
		{name: "neither provider verifies", methods: []Method{corp, partner}, headers: hdr("Authorization", "Bearer forged"), want: 401},
		{name: "nothing presented", methods: []Method{key, corp}, want: 401, message: "credentials required"},
		{name: "storage down, good token", methods: []Method{key, corp}, headers: hdr("X-API-Key", "down", "Authorization", "Bearer corp"), want: 503},
		{name: "key route drops an unverified token", methods: []Method{key}, headers: hdr("X-API-Key", "good", "Authorization", "Bearer forged"), want: 200, consumer: "key-acme"},
		{name: "key route keeps other schemes", methods: []Method{key}, headers: hdr("X-API-Key", "good", "Authorization", "Basic dXNlcjpwdw=="), want: 200, consumer: "key-acme", authz: []string{"Basic dXNlcjpwdw=="}},
		{name: "a client's claim header never passes", methods: []Method{key, corp}, headers: hdr("X-API-Key", "good", "X-User-Sub", "admin"), want: 200, consumer: "key-acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen *http.Request
			var x pipeline.Exchange
			h := New(Config{Methods: tt.methods, Strip: []string{"X-User-Sub"}})(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seen = r
				return nil
			}))
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			for k, vs := range tt.headers {
				r.Header[k] = vs
			}
			err := h.ServeHTTP(httptest.NewRecorder(), r.WithContext(pipeline.WithExchange(r.Context(), &x)))
			if tt.want != 200 {
				var he *pipeline.HTTPError
				if !errors.As(err, &he) || he.Status != tt.want {
					t.Fatalf("ServeHTTP() = %v, want status %d", err, tt.want)
				}
				if seen != nil {
					t.Errorf("the request reached the upstream")
				}
				if tt.want == 401 && (he.Code != pipeline.CodeUnauthorized || len(he.Header["Www-Authenticate"]) != len(tt.methods)) {
					t.Errorf("401 = %s with WWW-Authenticate %q, want unauthorized and one challenge per method", he.Code, he.Header["Www-Authenticate"])
				}
				if tt.message != "" && he.Message != tt.message {
					t.Errorf("message = %q, want %q", he.Message, tt.message)
				}
				return
			}
			if err != nil || seen == nil {
				t.Fatalf("ServeHTTP() = %v, reached upstream = %v; want admitted", err, seen != nil)
			}
			if x.Consumer == nil || x.Consumer.ID != tt.consumer {
				t.Errorf("consumer = %+v, want %s", x.Consumer, tt.consumer)
			}
			if got := seen.Header.Get("X-User-Sub"); got != tt.sub {
				t.Errorf("X-User-Sub = %q, want %q", got, tt.sub)
			}
			if got := seen.Header["Authorization"]; strings.Join(got, "|") != strings.Join(tt.authz, "|") {
				t.Errorf("Authorization forwarded = %q, want %q", got, tt.authz)
			}
			if got := seen.Header.Get("X-API-Key"); got != "" {
				t.Errorf("X-API-Key forwarded = %q", got)
			}
		})
	}
}

// hdr builds a header from name, value pairs.
func hdr(kv ...string) map[string][]string {
	h := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		k := http.CanonicalHeaderKey(kv[i])
		h[k] = append(h[k], kv[i+1])
	}
	return h
}

// TestDropBearer: on a route whose methods verify no bearer token, every
// Authorization value using the Bearer scheme is removed, whatever
// whitespace follows the scheme; other schemes stay.
func TestDropBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   []string
	}{
		{"bearer", []string{"Bearer a.b.c"}, nil},
		{"scheme case", []string{"bEARER a.b.c"}, nil},
		{"tab after the scheme", []string{"Bearer\ta.b.c"}, nil},
		{"scheme alone", []string{"Bearer"}, nil},
		{"basic stays", []string{"Basic eA==", "Bearer\ta.b.c"}, []string{"Basic eA=="}},
		{"a scheme that only starts with Bearer stays", []string{"Bearerx a.b.c"}, []string{"Bearerx a.b.c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{"Authorization": tt.values}
			dropBearer(h)
			if got := h["Authorization"]; !slices.Equal(got, tt.want) {
				t.Errorf("dropBearer(%q) left %q, want %q", tt.values, got, tt.want)
			}
		})
	}
}

// TestOnFailure: every 401 and 403 is reported once, with the credential
// that failed and why; a storage outage (5xx) and a success are not.
func TestOnFailure(t *testing.T) {
	t.Parallel()
	key, corp := keyMethod{}, jwtMethod{"corp"}
	tests := []struct {
		name    string
		groups  []string
		headers map[string][]string
		want    string // "method/reason", "" for no report
	}{
		{name: "nothing presented", want: "none/missing"},
		{name: "bad key", headers: hdr("X-API-Key", "wrong"), want: "api_key/invalid"},
		{name: "forged token", headers: hdr("Authorization", "Bearer forged"), want: "jwt/invalid"},
		{name: "good key, forged token", headers: hdr("X-API-Key", "good", "Authorization", "Bearer forged"), want: "jwt/invalid"},
		{name: "not in allow_groups", groups: []string{"partners"}, headers: hdr("Authorization", "Bearer corp"), want: "jwt/forbidden"},
		{name: "storage down", headers: hdr("X-API-Key", "down"), want: ""},
		{name: "good key", headers: hdr("X-API-Key", "good"), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			h := New(Config{Methods: []Method{key, corp}, AllowGroups: tt.groups,
				OnFailure: func(method, reason string) { got = append(got, method+"/"+reason) }})(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			for k, vs := range tt.headers {
				r.Header[k] = vs
			}
			var x pipeline.Exchange
			h.ServeHTTP(httptest.NewRecorder(), r.WithContext(pipeline.WithExchange(r.Context(), &x)))
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("OnFailure calls = %q, want %q", got, want)
			}
		})
	}
}
