package route

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestRecipeSteps checks which steps of the recipe each kind of route
// gets, in recipe order.
func TestRecipeSteps(t *testing.T) {
	t.Parallel()
	mem := counter.NewMemory(counter.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	limit := &config.RateLimit{Requests: 10, Per: config.Duration(time.Second), Burst: 10}
	keyed := &config.Config{Auth: config.Auth{APIKey: &config.APIKeyAuth{Header: "X-API-Key"}}}
	claims := &config.Config{Auth: config.Auth{JWT: []*config.JWT{{Name: "corp", ForwardClaims: map[string]string{"sub": "x-user-sub"}}}}}
	plans := &config.Config{Plans: map[string]*config.Plan{"gold": {RateLimit: limit}}}
	tests := []struct {
		name string
		cfg  *config.Config
		rc   config.Route
		auth *AuthSet
		want string
	}{
		{name: "public", cfg: &config.Config{}, rc: config.Route{Name: "orders"}, want: "body_limit admit"},
		{name: "public with api keys configured", cfg: keyed, rc: config.Route{Name: "orders"}, want: "strip_key body_limit admit"},
		{name: "public with forwarded claims", cfg: claims, rc: config.Route{Name: "orders"}, want: "auth body_limit admit"},
		{name: "route rate limit", cfg: &config.Config{}, rc: config.Route{Name: "orders", RateLimit: limit}, want: "body_limit rate_limit admit"},
		{name: "plan limits on a public route", cfg: plans, rc: config.Route{Name: "orders"}, want: "body_limit admit"},
		{name: "plan limits on an authenticated route", cfg: plans, rc: config.Route{Name: "orders", Auth: []string{"jwt:corp"}},
			auth: &AuthSet{}, want: "auth body_limit rate_limit admit"},
		{name: "llm after the limits", cfg: plans, rc: config.Route{Name: "chat", Auth: []string{"jwt:corp"}, LLM: &config.LLM{Format: "openai"}},
			auth: &AuthSet{}, want: "auth body_limit rate_limit llm admit"},
		{name: "ip rules before the key strip and auth", cfg: keyed, rc: config.Route{Name: "orders", IP: &config.IPRules{Deny: []string{"10.9.9.9"}}},
			want: "ip strip_key body_limit admit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := &Env{Config: tt.cfg, Counter: mem, Auth: tt.auth}
			var got []string
			for _, s := range recipe {
				mw, err := s.build(env, &tt.rc, &Route{Name: tt.rc.Name})
				if err != nil && !strings.Contains(err.Error(), "jwt provider") {
					t.Fatalf("%s: %v", s.name, err)
				}
				if mw != nil || err != nil {
					got = append(got, s.name)
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("steps = %q, want %q", g, tt.want)
			}
		})
	}
}

func TestAuthStepUnusable(t *testing.T) {
	t.Parallel()
	env := &Env{Config: &config.Config{}}
	_, err := authStep(env, &config.Route{Name: "orders", Auth: []string{"jwt:corp"}}, &Route{})
	if !errors.Is(err, ErrAuthUnusable) {
		t.Errorf("authStep() = %v, want %v", err, ErrAuthUnusable)
	}
}

func TestLimitBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		length     int64
		limit      int64
		wantStatus int
	}{
		{name: "no limit", body: "hello", length: 5, limit: 0},
		{name: "under", body: "hello", length: 5, limit: 10},
		{name: "declared over", body: "hello world", length: 11, limit: 10, wantStatus: http.StatusRequestEntityTooLarge},
		{name: "unknown length", body: "hello world", length: -1, limit: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(tt.body))
			r.ContentLength = tt.length
			err := limitBody(httptest.NewRecorder(), r, tt.limit)
			status := 0
			var he *pipeline.HTTPError
			if errors.As(err, &he) {
				status = he.Status
			}
			if status != tt.wantStatus {
				t.Errorf("limitBody() status = %d, want %d", status, tt.wantStatus)
			}
		})
	}
}

func TestAdmitMarksExchange(t *testing.T) {
	t.Parallel()
	x := &pipeline.Exchange{}
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r = r.WithContext(pipeline.WithExchange(r.Context(), x))
	h := admit(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	if !x.Admitted {
		t.Error("Admitted = false, want true")
	}
}
