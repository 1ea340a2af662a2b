package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/config"
)

// TestPortalNeedsRestart: the portal's listener is bound at start, as the
// admin's is, so a reload that adds, removes or changes portal says a
// restart is required.
func TestPortalNeedsRestart(t *testing.T) {
	const up = "http://127.0.0.1:9"
	s := newServer(t, gatewayConfig(up, catchAll))
	tests := []struct {
		name   string
		portal *config.Portal
		want   bool
	}{
		{name: "same (none)", portal: nil, want: false},
		{name: "added", portal: &config.Portal{Listen: "127.0.0.1:9090"}, want: true},
	}
	for _, tt := range tests {
		cfg := parseConfig(t, gatewayConfig(up, catchAll))
		cfg.Portal = tt.portal
		if got := slices.Contains(s.staticChanges(cfg), "portal"); got != tt.want {
			t.Errorf("%s: staticChanges() = %v, want portal listed: %v", tt.name, s.staticChanges(cfg), tt.want)
		}
	}
}

// TestVerifyJWT: the portal's token check is the route's: a provider named
// in portal.jwt is built and used even when no route uses it, the subject
// maps to a consumer as on routes, and an unknown subject, a bad signature
// or a provider not in the list is refused.
func TestVerifyJWT(t *testing.T) {
	s := newServer(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
portal:
  listen: "127.0.0.1:0"
  jwt: [corp]
auth:
  jwt:
    - name: corp
      secret: %q
      algorithms: [HS256]
    - name: unlisted
      secret: %q
      algorithms: [HS256]
consumers:
  - id: acme
    jwt_subjects: [client-acme]
upstreams:
  app: {targets: [{url: "http://127.0.0.1:9"}]}
routes:
  - name: unlisted
    match: {path_prefix: /}
    upstream: app
    auth: ["jwt:unlisted"]
`, hygieneSecret, hygieneSecret))
	sign := func(sub, secret string) string {
		tok, err := gjwt.NewWithClaims(gjwt.SigningMethodHS256, gjwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name      string
		providers []string
		token     string
		want      string
	}{
		{name: "a consumer's subject", providers: []string{"corp"}, token: sign("client-acme", hygieneSecret), want: "acme"},
		{name: "unknown subject", providers: []string{"corp"}, token: sign("client-nobody", hygieneSecret)},
		{name: "wrong signature", providers: []string{"corp"}, token: sign("client-acme", "another-secret-0123456789abcdef0123")},
		{name: "not a token", providers: []string{"corp"}, token: "gk_not-a-jwt"},
		{name: "no provider listed", providers: nil, token: sign("client-acme", hygieneSecret)},
		{name: "a provider that is not there", providers: []string{"nope"}, token: sign("client-acme", hygieneSecret)},
	}
	for _, tt := range tests {
		c, err := s.VerifyJWT(context.Background(), tt.providers, tt.token)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: VerifyJWT() = %+v, want an error", tt.name, c)
		case tt.want != "" && (err != nil || c.ID != tt.want):
			t.Errorf("%s: VerifyJWT() = %+v, %v; want %s", tt.name, c, err, tt.want)
		}
	}
}
