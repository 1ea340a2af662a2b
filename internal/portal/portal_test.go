package portal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/plugins/ratelimit"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
)

// now is the tests' clock: inside November 2026, whose usage the ledger
// holds.
var now = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

var plans = map[string]*config.Plan{
	"pro": {
		RateLimit: &config.RateLimit{Requests: 10, Per: config.Duration(time.Hour), Burst: 10},
		Quota:     &config.Quota{Requests: 1000, Per: "month"},
		Pricing:   &config.Pricing{Currency: "USD", MonthlyFee: "49.00", IncludedRequests: 100, Per1000Over: "0.50"},
	},
	"free": {Quota: &config.Quota{Requests: 100, Per: "day"}},
}

// fixture is a portal over a SQLite store with two consumers, acme (pro)
// and globex (free), each with a key, and usage of both.
type fixture struct {
	h                  http.Handler
	st                 store.Store
	ctr                counter.Counter
	acmeKey, globexKey string
	acmeKeyID          string
	globexKeyID        string
	jwtSubjects        map[string]string // token → consumer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, jwtSubjects: map[string]string{"token-of-acme": "acme"}}
	for _, c := range []store.Consumer{{ID: "acme", Plan: "pro"}, {ID: "globex", Plan: "free"}} {
		if err := st.CreateConsumer(ctx, c); err != nil {
			t.Fatal(err)
		}
		plain, k, err := keyauth.Generate()
		if err != nil {
			t.Fatal(err)
		}
		k.ConsumerID, k.Source = c.ID, store.SourceAPI
		if err := st.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if c.ID == "acme" {
			f.acmeKey, f.acmeKeyID = plain, k.ID
		} else {
			f.globexKey, f.globexKeyID = plain, k.ID
		}
	}
	rows := []store.UsageRow{
		{Bucket: now.Add(-48 * time.Hour), Consumer: "acme", Route: "orders", UsageCounts: store.UsageCounts{Requests: 300, Admitted: 300, Billable: 290, Units: 290, Errors: 10}},
		{Bucket: now.Add(-time.Hour), Consumer: "acme", Route: "users", UsageCounts: store.UsageCounts{Requests: 20, Admitted: 20, Billable: 20, Units: 20}},
		{Bucket: now.Add(-time.Hour), Consumer: "globex", Route: "users", UsageCounts: store.UsageCounts{Requests: 7, Admitted: 7, Billable: 7, Units: 7}},
	}
	if err := st.UpsertUsage(ctx, "gw-a", rows); err != nil {
		t.Fatal(err)
	}
	mem := counter.NewMemory(counter.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	f.ctr = mem
	f.h = Handler(Options{
		Store: st, Counters: mem, Title: "Acme API", Listen: "127.0.0.1:9090",
		Plans: func() map[string]*config.Plan { return plans },
		Now:   func() time.Time { return now },
		VerifyJWT: func(_ context.Context, token string) (*pipeline.Consumer, error) {
			if id, ok := f.jwtSubjects[token]; ok {
				return &pipeline.Consumer{ID: id}, nil
			}
			return nil, errors.New("invalid token")
		},
	})
	return f
}

// browser is one client of the portal: its cookie and CSRF token.
type browser struct {
	t      testing.TB
	h      http.Handler
	ip     string
	cookie *http.Cookie
	csrf   string
}

func (f *fixture) browser(t *testing.T, ip string) *browser {
	return &browser{t: t, h: f.h, ip: ip}
}

type req struct {
	method, path, body string
	noCSRF             bool
	header             map[string]string
}

func (b *browser) do(r req) (int, string, http.Header) {
	b.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, "http://127.0.0.1:9090"+r.path, body)
	hr.RemoteAddr = b.ip + ":40000"
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if b.cookie != nil {
		hr.AddCookie(b.cookie)
	}
	if b.csrf != "" && !r.noCSRF {
		hr.Header.Set("X-CSRF-Token", b.csrf)
	}
	for k, v := range r.header {
		if k == "Host" {
			hr.Host = v
			continue
		}
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, hr)
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			if c.MaxAge < 0 {
				b.cookie = nil
			} else {
				b.cookie = c
			}
		}
	}
	return rec.Code, rec.Body.String(), rec.Header()
}

// signIn signs in with body and keeps the session.
func (b *browser) signIn(body string) int {
	b.t.Helper()
	code, resp, _ := b.do(req{method: http.MethodPost, path: "/portal/api/session", body: body})
	if code == http.StatusCreated {
		var v sessionView
		if err := json.Unmarshal([]byte(resp), &v); err != nil {
			b.t.Fatal(err)
		}
		b.csrf = v.CSRFToken
	}
	return code
}

func keyBody(k string) string { return `{"key": "` + k + `"}` }

func decode[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name         string
		body         string
		want         int
		wantConsumer string
		wantKeyID    func() string
	}{
		{name: "API key", body: keyBody(f.acmeKey), want: 201, wantConsumer: "acme", wantKeyID: func() string { return f.acmeKeyID }},
		{name: "other consumer's key", body: keyBody(f.globexKey), want: 201, wantConsumer: "globex", wantKeyID: func() string { return f.globexKeyID }},
		{name: "JWT", body: `{"token": "token-of-acme"}`, want: 201, wantConsumer: "acme", wantKeyID: func() string { return "" }},
		{name: "unknown key", body: keyBody("gk_wrong"), want: 401},
		{name: "bad JWT", body: `{"token": "forged"}`, want: 401},
		{name: "both", body: `{"key": "x", "token": "y"}`, want: 400},
		{name: "neither", body: `{}`, want: 400},
		{name: "a consumer id instead", body: `{"consumer": "acme"}`, want: 400},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := f.browser(t, "192.0.2."+string(rune('1'+i)))
			if got := b.signIn(tt.body); got != tt.want {
				t.Fatalf("sign-in = %d, want %d", got, tt.want)
			}
			if tt.want != 201 {
				if b.cookie != nil {
					t.Error("a refused sign-in set a session cookie")
				}
				return
			}
			if !b.cookie.HttpOnly || b.cookie.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict", b.cookie)
			}
			if strings.Contains(b.cookie.Value, f.acmeKey) || strings.Contains(b.cookie.Value, f.globexKey) {
				t.Error("the cookie carries the key")
			}
			code, body, _ := b.do(req{path: "/portal/api/session"})
			s := decode[sessionView](t, body)
			if code != 200 || !s.SignedIn || s.Consumer != tt.wantConsumer || s.KeyID != tt.wantKeyID() || s.Title != "Acme API" {
				t.Errorf("GET session = %d %+v, want %s with key %q", code, s, tt.wantConsumer, tt.wantKeyID())
			}
			if strings.Contains(body, f.acmeKey) || strings.Contains(body, f.globexKey) {
				t.Error("the session view carries a key")
			}
		})
	}
}

func TestSignInThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t, "198.51.100.7")
	for i := range signInFailures {
		if got := b.signIn(keyBody("gk_wrong")); got != 401 {
			t.Fatalf("attempt %d = %d, want 401", i+1, got)
		}
	}
	code, _, hdr := b.do(req{method: http.MethodPost, path: "/portal/api/session", body: keyBody(f.acmeKey)})
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("a right key after %d failures = %d (Retry-After %q), want 429 with Retry-After", signInFailures, code, hdr.Get("Retry-After"))
	}
	// Another address is not locked out.
	if got := f.browser(t, "198.51.100.8").signIn(keyBody(f.acmeKey)); got != 201 {
		t.Errorf("another address = %d, want 201", got)
	}
}

// TestOwnDataOnly: every answer is about the session's consumer; a
// consumer id from the client is ignored.
func TestOwnDataOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.browser(t, "192.0.2.10")
	if acme.signIn(keyBody(f.acmeKey)) != 201 {
		t.Fatal("sign-in failed")
	}
	globex := f.browser(t, "192.0.2.11")
	if globex.signIn(keyBody(f.globexKey)) != 201 {
		t.Fatal("sign-in failed")
	}
	type usageRes struct {
		Consumer string `json:"consumer"`
		Rows     []struct {
			Consumer string `json:"consumer"`
			Requests int64  `json:"requests"`
		} `json:"rows"`
	}
	tests := []struct {
		name     string
		b        *browser
		path     string
		want     string // the consumer every row must be
		requests int64
	}{
		{name: "acme", b: acme, path: "/portal/api/usage", want: "acme", requests: 320},
		{name: "acme asks for globex", b: acme, path: "/portal/api/usage?consumer=globex", want: "acme", requests: 320},
		{name: "acme asks for everyone by day", b: acme, path: "/portal/api/usage?consumer=&group_by=day", want: "acme", requests: 320},
		{name: "globex", b: globex, path: "/portal/api/usage?consumer=acme", want: "globex", requests: 7},
	}
	for _, tt := range tests {
		code, body, _ := tt.b.do(req{path: tt.path})
		res := decode[usageRes](t, body)
		var sum int64
		for _, r := range res.Rows {
			if r.Consumer != tt.want {
				t.Errorf("%s: row of %q in %s", tt.name, r.Consumer, body)
			}
			sum += r.Requests
		}
		if code != 200 || res.Consumer != tt.want || sum != tt.requests {
			t.Errorf("%s: GET %s = %d, consumer %q, %d requests; want %s, %d", tt.name, tt.path, code, res.Consumer, sum, tt.want, tt.requests)
		}
	}
	_, csv, hdr := globex.do(req{path: "/portal/api/usage?format=csv&consumer=acme"})
	if !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || strings.Contains(csv, "acme") || !strings.Contains(csv, "globex") {
		t.Errorf("globex's CSV:\n%s", csv)
	}
	_, body, _ := acme.do(req{path: "/portal/api/invoices?period=2026-11&consumer=globex"})
	inv := decode[struct {
		Consumer string `json:"consumer"`
		Total    string `json:"total"`
	}](t, body)
	// 320 requests, 310 billable, 100 included: 210 over, a started
	// thousand at 0.50; 49.00 + 0.50.
	if inv.Consumer != "acme" || inv.Total != "49.50" {
		t.Errorf("acme's invoice = %s, want acme's with total 49.50", body)
	}
	_, body, _ = globex.do(req{path: "/portal/api/me"})
	if me := decode[meView](t, body); me.Consumer != "globex" || me.Plan != "free" {
		t.Errorf("globex's /me = %s", body)
	}
}

func TestMeRemaining(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Three requests of acme through the gateway's limiter.
	mw, err := ratelimit.New(ratelimit.Config{Counter: f.ctr, Route: "orders", Plans: plans})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	for range 3 {
		x := pipeline.Exchange{Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro"}}
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if err := h.ServeHTTP(httptest.NewRecorder(), r.WithContext(pipeline.WithExchange(r.Context(), &x))); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser(t, "192.0.2.20")
	b.signIn(keyBody(f.acmeKey))
	for range 2 { // reading takes nothing: the same twice
		_, body, _ := b.do(req{path: "/portal/api/me"})
		me := decode[meView](t, body)
		l := me.Limits
		if l.RateLimit == nil || l.RateLimit.Remaining == nil || *l.RateLimit.Remaining != 7 {
			t.Errorf("rate limit = %s, want 7 of 10 left", body)
		}
		if l.Quota == nil || l.Quota.Remain == nil || *l.Quota.Remain != 997 || *l.Quota.Used != 3 ||
			!l.Quota.ResetsAt.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("quota = %s, want 997 of 1000 left until December", body)
		}
		if l.TokenLimit != nil || l.TokenQuota != nil || l.Degraded {
			t.Errorf("limits = %s, want no token limits, not degraded", body)
		}
	}
}

// TestKeys: list without secrets, create (shown once), revoke own keys
// only; revoking the key of the session ends it.
func TestKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.browser(t, "192.0.2.30")
	acme.signIn(keyBody(f.acmeKey))
	globex := f.browser(t, "192.0.2.31")
	globex.signIn(keyBody(f.globexKey))

	code, body, _ := acme.do(req{method: http.MethodPost, path: "/portal/api/keys"})
	created := decode[struct{ ID, Key, Prefix string }](t, body)
	if code != 201 || created.Key == "" {
		t.Fatalf("create = %d %s", code, body)
	}
	if _, c, err := keyauth.Verify(context.Background(), f.st, created.Key); err != nil || c.ID != "acme" {
		t.Fatalf("the new key verifies as %q, %v; want acme", c.ID, err)
	}
	_, body, _ = acme.do(req{path: "/portal/api/keys"})
	if strings.Contains(body, created.Key) || strings.Contains(body, f.acmeKey) || strings.Contains(body, "hash") {
		t.Errorf("the key list shows a secret: %s", body)
	}
	list := decode[struct{ Keys []keyView }](t, body)
	if len(list.Keys) != 2 {
		t.Fatalf("acme's keys = %s, want 2", body)
	}

	tests := []struct {
		name    string
		b       *browser
		r       req
		want    int
		stillOK string // a key that must still verify afterwards
	}{
		{name: "globex revokes acme's key", b: globex, r: req{method: http.MethodDelete, path: "/portal/api/keys/" + created.ID}, want: 404, stillOK: created.Key},
		{name: "without the CSRF token", b: acme, r: req{method: http.MethodDelete, path: "/portal/api/keys/" + created.ID, noCSRF: true}, want: 403, stillOK: created.Key},
		{name: "with a wrong CSRF token", b: acme, r: req{method: http.MethodDelete, path: "/portal/api/keys/" + created.ID, noCSRF: true, header: map[string]string{"X-CSRF-Token": "nope"}}, want: 403, stillOK: created.Key},
		{name: "create without the CSRF token", b: acme, r: req{method: http.MethodPost, path: "/portal/api/keys", noCSRF: true}, want: 403},
		{name: "form body", b: acme, r: req{method: http.MethodPost, path: "/portal/api/keys", body: "a=b", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, want: 415},
		{name: "foreign origin", b: acme, r: req{method: http.MethodDelete, path: "/portal/api/keys/" + created.ID, header: map[string]string{"Origin": "http://evil.example"}}, want: 403, stillOK: created.Key},
		{name: "acme revokes its new key", b: acme, r: req{method: http.MethodDelete, path: "/portal/api/keys/" + created.ID}, want: 204, stillOK: f.acmeKey},
		{name: "again", b: acme, r: req{method: http.MethodDelete, path: "/portal/api/keys/" + created.ID}, want: 404},
	}
	for _, tt := range tests {
		if code, body, _ := tt.b.do(tt.r); code != tt.want {
			t.Errorf("%s: %s %s = %d %s, want %d", tt.name, tt.r.method, tt.r.path, code, body, tt.want)
		}
		if tt.stillOK != "" {
			if _, _, err := keyauth.Verify(context.Background(), f.st, tt.stillOK); err != nil {
				t.Errorf("%s: a key that must live was refused: %v", tt.name, err)
			}
		}
	}
	if _, _, err := keyauth.Verify(context.Background(), f.st, created.Key); !errors.Is(err, keyauth.ErrInvalidKey) {
		t.Errorf("the revoked key verifies: %v", err)
	}

	// A second session signed in with acme's key, then the key revoked in
	// the first: both sessions end.
	other := f.browser(t, "192.0.2.32")
	other.signIn(keyBody(f.acmeKey))
	if code, _, _ := acme.do(req{method: http.MethodDelete, path: "/portal/api/keys/" + f.acmeKeyID}); code != 204 {
		t.Fatalf("revoking the session's own key = %d", code)
	}
	for name, b := range map[string]*browser{"this session": acme, "another session": other} {
		if code, _, _ := b.do(req{path: "/portal/api/me"}); code != 401 {
			t.Errorf("%s after its key was revoked = %d, want 401", name, code)
		}
	}
	// Revoked behind the portal's back (the admin API, another node):
	// the session ends at its next request.
	if err := f.st.RevokeKey(context.Background(), "globex", f.globexKeyID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := globex.do(req{path: "/portal/api/me"}); code != 401 {
		t.Errorf("a session whose key was revoked elsewhere = %d, want 401", code)
	}
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	anon := f.browser(t, "192.0.2.40")
	for _, r := range []req{
		{path: "/portal/api/me"}, {path: "/portal/api/usage?consumer=acme"}, {path: "/portal/api/invoices"},
		{path: "/portal/api/keys"}, {method: http.MethodPost, path: "/portal/api/keys"},
		{method: http.MethodDelete, path: "/portal/api/keys/" + f.acmeKeyID},
	} {
		if code, _, _ := anon.do(r); code != 401 {
			t.Errorf("%s %s without a session = %d, want 401", r.method, r.path, code)
		}
	}
	// A key is not a bearer credential here: only the session cookie is.
	if code, _, _ := anon.do(req{path: "/portal/api/me", header: map[string]string{"X-API-Key": f.acmeKey, "Authorization": "Bearer " + f.acmeKey}}); code != 401 {
		t.Errorf("GET /me with the key in headers = %d, want 401", code)
	}
	if code, _, _ := anon.do(req{path: "/portal/api/me", header: map[string]string{"Host": "evil.example"}}); code != 403 {
		t.Errorf("foreign Host = %d, want 403", code)
	}
	code, body, hdr := anon.do(req{path: "/"})
	if code != 200 || !strings.Contains(body, "<title>Acme API</title>") || hdr.Get("Content-Security-Policy") == "" {
		t.Errorf("GET / = %d (CSP %q), want the page titled Acme API", code, hdr.Get("Content-Security-Policy"))
	}
	if code, _, _ := anon.do(req{path: "/dashboard/index.html"}); code != 404 {
		t.Errorf("the operator's dashboard on the portal = %d, want 404", code)
	}
}
