package session

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signIn creates a session and returns it with the request that carries
// its cookie back.
func signIn(t *testing.T, s *Store, subject string) (Session, *http.Request) {
	t.Helper()
	rec := httptest.NewRecorder()
	ss, err := s.Create(rec, httptest.NewRequest(http.MethodPost, "/admin/session", nil), subject)
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Create() set %d cookies, want 1", len(cookies))
	}
	r := httptest.NewRequest(http.MethodGet, "/admin/routes", nil)
	r.AddCookie(cookies[0])
	return ss, r
}

func TestCookieAttributes(t *testing.T) {
	s := New(Options{Cookie: "gantry_admin_session"})
	tests := []struct {
		name       string
		tls        bool
		wantSecure bool
	}{
		{name: "plain HTTP", tls: false, wantSecure: false},
		{name: "TLS", tls: true, wantSecure: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/admin/session", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			if _, err := s.Create(rec, r, "admin"); err != nil {
				t.Fatal(err)
			}
			c := rec.Result().Cookies()[0]
			if c.Name != "gantry_admin_session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) < 40 {
				t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/ and a long random value", c)
			}
			if c.Secure != tt.wantSecure {
				t.Errorf("cookie Secure = %v, want %v", c.Secure, tt.wantSecure)
			}
		})
	}
}

func TestGetAndExpiry(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	s := New(Options{Cookie: "sid", Idle: 10 * time.Minute, MaxAge: time.Hour, Now: clk.Now})
	ss, r := signIn(t, s, "admin")
	got, ok := s.Get(r)
	if !ok || got.CSRF != ss.CSRF || got.Subject != "admin" {
		t.Fatalf("Get() = %+v, %v, want the session just created", got, ok)
	}
	// Used every 9 minutes, it outlives the idle timeout but not the maximum age.
	for range 6 {
		clk.Add(9 * time.Minute)
		if _, ok := s.Get(r); !ok {
			t.Fatalf("Get() after %s of regular use = false, want the session", clk.Now().Sub(ss.Created))
		}
	}
	clk.Add(7 * time.Minute) // 61 minutes after sign-in
	if _, ok := s.Get(r); ok {
		t.Errorf("Get() past the maximum age = true, want false")
	}

	_, r2 := signIn(t, s, "admin")
	clk.Add(10 * time.Minute)
	if _, ok := s.Get(r2); ok {
		t.Errorf("Get() after the idle timeout = true, want false")
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len() = %d after both sessions expired, want 0", n)
	}
}

func TestUnknownCookie(t *testing.T) {
	s := New(Options{Cookie: "sid"})
	signIn(t, s, "admin")
	tests := []struct {
		name   string
		cookie *http.Cookie
	}{
		{name: "no cookie"},
		{name: "forged value", cookie: &http.Cookie{Name: "sid", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		{name: "empty value", cookie: &http.Cookie{Name: "sid", Value: ""}},
		{name: "other cookie name", cookie: &http.Cookie{Name: "session", Value: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.cookie != nil {
				r.AddCookie(tt.cookie)
			}
			if ss, ok := s.Get(r); ok {
				t.Errorf("Get() = %+v, want no session", ss)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	s := New(Options{Cookie: "sid"})
	_, r := signIn(t, s, "admin")
	rec := httptest.NewRecorder()
	s.Delete(rec, r)
	if _, ok := s.Get(r); ok {
		t.Errorf("Get() after Delete() = true, want false")
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("Delete() cookies = %+v, want one clearing the cookie", c)
	}

	_, ra := signIn(t, s, "acme")
	_, rb := signIn(t, s, "acme")
	_, rg := signIn(t, s, "globex")
	s.DeleteSubject("acme")
	for name, r := range map[string]*http.Request{"acme #1": ra, "acme #2": rb} {
		if _, ok := s.Get(r); ok {
			t.Errorf("Get(%s) after DeleteSubject(acme) = true, want false", name)
		}
	}
	if _, ok := s.Get(rg); !ok {
		t.Errorf("Get(globex) after DeleteSubject(acme) = false, want the session")
	}
}

func TestMaxEvictsLeastRecentlyUsed(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	s := New(Options{Cookie: "sid", Max: 2, Now: clk.Now})
	_, first := signIn(t, s, "a")
	clk.Add(time.Second)
	_, second := signIn(t, s, "b")
	clk.Add(time.Second)
	s.Get(first) // first is now the more recently used
	clk.Add(time.Second)
	_, third := signIn(t, s, "c")
	if _, ok := s.Get(second); ok {
		t.Errorf("the least recently used session survived a sign-in beyond Max")
	}
	for name, r := range map[string]*http.Request{"first": first, "third": third} {
		if _, ok := s.Get(r); !ok {
			t.Errorf("session %s was evicted, want it kept", name)
		}
	}
	if n := s.Len(); n != 2 {
		t.Errorf("Len() = %d, want 2", n)
	}
}

func TestCheck(t *testing.T) {
	s := New(Options{Cookie: "sid"})
	ss, _ := signIn(t, s, "admin")
	other, _ := signIn(t, s, "admin")
	tests := []struct {
		name   string
		header string
		want   bool
	}{
		{name: "the session's token", header: ss.CSRF, want: true},
		{name: "missing", header: "", want: false},
		{name: "another session's token", header: other.CSRF, want: false},
		{name: "a prefix", header: ss.CSRF[:10], want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/admin/reload", nil)
			if tt.header != "" {
				r.Header.Set(CSRFHeader, tt.header)
			}
			if got := Check(ss, r); got != tt.want {
				t.Errorf("Check() = %v, want %v", got, tt.want)
			}
		})
	}
	if Check(Session{}, httptest.NewRequest(http.MethodPost, "/", nil)) {
		t.Errorf("Check() of an empty session and no header = true, want false")
	}
}

func TestDeleteCredential(t *testing.T) {
	s := New(Options{Cookie: "gantry_portal_session"})
	signInWith := func(subject, cred string) *http.Request {
		rec := httptest.NewRecorder()
		ss, err := s.CreateWith(rec, httptest.NewRequest(http.MethodPost, "/portal/api/session", nil), subject, cred)
		if err != nil {
			t.Fatal(err)
		}
		if ss.Subject != subject || ss.Credential != cred {
			t.Fatalf("CreateWith() = %+v, want subject %q credential %q", ss, subject, cred)
		}
		r := httptest.NewRequest(http.MethodGet, "/portal/api/me", nil)
		r.AddCookie(rec.Result().Cookies()[0])
		return r
	}
	a1 := signInWith("acme", "key1")
	a2 := signInWith("acme", "key2")
	b1 := signInWith("beta", "key1")
	s.DeleteCredential("acme", "key1")
	for _, tt := range []struct {
		name string
		r    *http.Request
		want bool
	}{{"acme with key1", a1, false}, {"acme with key2", a2, true}, {"beta with its key1", b1, true}} {
		if ss, ok := s.Get(tt.r); ok != tt.want {
			t.Errorf("%s: Get() = %+v, %v; want live %v", tt.name, ss, ok, tt.want)
		}
	}
}
