package portal

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzSignIn sends arbitrary bodies to POST /portal/api/session: the
// handler never panics, and only a body carrying a live key or a valid
// token signs in, as the consumer that credential names.
func FuzzSignIn(f *testing.F) {
	for _, s := range []string{`{"key": "gk_x"}`, `{"token": "a.b.c"}`, `{}`, `{"key": "", "token": ""}`, `null`, `[`, `{"key": 1}`, `{"consumer": "acme"}`} {
		f.Add(s)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body string) {
		b := &browser{t: t, h: fx.h, ip: "203.0.113.9"}
		code, resp, _ := b.do(req{method: http.MethodPost, path: "/portal/api/session", body: body})
		switch code {
		case http.StatusCreated:
			v := decode[sessionView](t, resp)
			switch {
			case strings.Contains(body, fx.acmeKey) || strings.Contains(body, "token-of-acme"):
				if v.Consumer != "acme" {
					t.Fatalf("body %q signed in as %q", body, v.Consumer)
				}
			case strings.Contains(body, fx.globexKey):
				if v.Consumer != "globex" {
					t.Fatalf("body %q signed in as %q", body, v.Consumer)
				}
			default:
				t.Fatalf("body %q without a credential signed in as %q", body, v.Consumer)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("body %q answered %d %s", body, code, resp)
		}
	})
}
