package route

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestIPStep checks the ip rules against the client address the exchange
// holds: deny wins, a non-empty allow admits only its own.
func TestIPStep(t *testing.T) {
	t.Parallel()
	rules := &config.IPRules{Allow: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}, Deny: []string{"10.9.9.9/32"}}
	tests := []struct {
		name  string
		rules *config.IPRules
		ip    string
		want  bool
	}{
		{name: "allowed v4 range", rules: rules, ip: "10.1.2.3", want: true},
		{name: "allowed single address", rules: rules, ip: "192.0.2.7", want: true},
		{name: "allowed v6 range", rules: rules, ip: "2001:db8::1", want: true},
		{name: "mapped v4 in allowed range", rules: rules, ip: "::ffff:10.1.2.3", want: true},
		{name: "deny wins over allow", rules: rules, ip: "10.9.9.9", want: false},
		{name: "outside allow", rules: rules, ip: "192.0.2.8", want: false},
		{name: "unparsable address", rules: rules, ip: "unknown", want: false},
		{name: "deny only admits others", rules: &config.IPRules{Deny: []string{"127.0.0.0/8"}}, ip: "192.0.2.1", want: true},
		{name: "deny only refuses its own", rules: &config.IPRules{Deny: []string{"127.0.0.0/8"}}, ip: "127.0.0.1", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mw, err := ipStep(&Env{Config: &config.Config{}}, &config.Route{Name: "partners", IP: tt.rules}, nil)
			if err != nil || mw == nil {
				t.Fatalf("ipStep() = %v, %v", mw, err)
			}
			reached := false
			h := mw(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { reached = true; return nil }))
			r := httptest.NewRequest(http.MethodGet, "/partners", nil)
			r = r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ClientIP: tt.ip}))
			err = h.ServeHTTP(httptest.NewRecorder(), r)
			if reached != tt.want {
				t.Fatalf("reached = %v, want %v (err %v)", reached, tt.want, err)
			}
			if !tt.want {
				var he *pipeline.HTTPError
				if !errors.As(err, &he) || he.Status != http.StatusForbidden || he.Code != pipeline.CodeForbidden {
					t.Errorf("error = %v, want 403 %s", err, pipeline.CodeForbidden)
				}
			}
		})
	}
}

// BenchmarkIPRules is the cost of the ip step's decision per request: the
// address parsed from Exchange.ClientIP, then deny and allow scanned.
func BenchmarkIPRules(b *testing.B) {
	allow, deny := []string{"10.0.0.0/8", "172.16.0.0/12", "2001:db8::/32"}, []string{"10.9.9.9/32"}
	mw, err := ipStep(&Env{Config: &config.Config{}}, &config.Route{Name: "partners", IP: &config.IPRules{Allow: allow, Deny: deny}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := mw(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	for _, ip := range []string{"10.1.2.3", "2001:db8::7", "192.0.2.1"} {
		b.Run("client="+ip, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/partners", nil)
			r = r.WithContext(pipeline.WithExchange(r.Context(), &pipeline.Exchange{ClientIP: ip}))
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				_ = h.ServeHTTP(w, r)
			}
		})
	}
}
