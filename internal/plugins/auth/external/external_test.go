package external

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

func build(t *testing.T, url string, mutate func(*config.ExternalAuth)) *Service {
	t.Helper()
	c := &config.ExternalAuth{Name: "authz", URL: url, Timeout: config.Duration(time.Second), OnFailure: config.ExternalDeny,
		ForwardHeaders: []string{"authorization"}, ResponseHeaders: []string{"x-user-role", "X-Consumer-ID"}}
	if mutate != nil {
		mutate(c)
	}
	s, err := Build(c, Options{Transport: http.DefaultTransport})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func request(target string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodDelete, target, nil)
	for i := 0; i < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	x := &pipeline.Exchange{RequestPath: strings.SplitN(target, "?", 2)[0], Path: "/stripped"}
	return r.WithContext(pipeline.WithExchange(r.Context(), x))
}

func TestCheck(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxAnswerBytes+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "ok":
			// The client's canonical path and method, asked with GET.
			if r.Method != "GET" || r.Header.Get("X-Forwarded-Uri") != "/orders?id=1" || r.Header.Get("X-Forwarded-Method") != "DELETE" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			w.Header().Set("X-User-Role", "admin")
			w.Header().Set("X-Consumer-Id", "acme")
			w.Header().Set("X-Other", "no")
		case "big":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(401)
			fmt.Fprint(w, big)
		case "redirect":
			w.Header().Set("Location", "https://login.example.com/")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.WriteHeader(302)
		default:
			http.Error(w, "boom", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	s := build(t, srv.URL, nil)

	d, err := s.Check(request("/orders?id=1", "Authorization", "ok"))
	if err != nil || !d.Allowed || d.Consumer != "acme" || len(d.Headers) != 1 || d.Headers[0] != [2]string{"X-User-Role", "admin"} {
		t.Errorf("allowed: Check() = %+v, %v; want X-User-Role admin and consumer acme only", d, err)
	}
	d, err = s.Check(request("/orders", "Authorization", "big"))
	if err != nil || d.Allowed || d.Status != 401 || d.Body != nil || d.Header.Get("Content-Type") != "" {
		t.Errorf("oversized refusal: Check() = status %d body %d bytes, %v; want 401 without body", d.Status, len(d.Body), err)
	}
	d, err = s.Check(request("/orders", "Authorization", "redirect"))
	if err != nil || d.Status != 302 || d.Header.Get("Location") == "" || d.Header.Get("Keep-Alive") != "" {
		t.Errorf("redirect: Check() = %+v, %v; want 302 with Location and no hop-by-hop header", d, err)
	}
	_, err = s.Check(request("/orders", "Authorization", "fail"))
	var he *pipeline.HTTPError
	if !errors.As(err, &he) || he.Status != 503 || he.Code != pipeline.CodeAuthUnavailable {
		t.Errorf("5xx with on_failure deny: Check() error = %v, want 503 auth_unavailable", err)
	}
	lenient := build(t, srv.URL, func(c *config.ExternalAuth) { c.OnFailure = config.ExternalAllow })
	if d, err := lenient.Check(request("/orders", "Authorization", "fail")); err != nil || !d.Allowed || len(d.Headers) != 0 {
		t.Errorf("5xx with on_failure allow: Check() = %+v, %v; want allowed without headers", d, err)
	}
}

// TestCacheKey: requests differing in anything the service is told
// (method, path, query, forwarded headers) are different questions;
// unlisted headers are not.
func TestCacheKey(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Forwarded-Uri") == "/login" {
			w.Header().Set("Location", "https://login.example.com/")
			w.WriteHeader(http.StatusFound)
		}
	}))
	defer srv.Close()
	var results []string
	s, err := Build(&config.ExternalAuth{Name: "authz", URL: srv.URL, Timeout: config.Duration(time.Second), OnFailure: config.ExternalDeny,
		ForwardHeaders: []string{"Authorization"}, Cache: config.Duration(time.Minute)},
		Options{Transport: http.DefaultTransport, OnResult: func(r string) { results = append(results, r) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*http.Request{
		request("/a?x=1", "Authorization", "one"),
		request("/a?x=1", "Authorization", "one", "Cookie", "unlisted"),
		request("/a?x=2", "Authorization", "one"),
		request("/b?x=1", "Authorization", "one"),
		request("/a?x=1", "Authorization", "two"),
		request("/a?x=1", "Authorization", "one", "Authorization", "two"),
		request("/a?x=1"),
		request("/login"),
		request("/login"),
	} {
		if _, err := s.Check(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 8 {
		t.Errorf("service calls = %d, want 8 (the unlisted Cookie is the same question; a redirect is not kept)", got)
	}
	want := []string{"allowed", "cached", "allowed", "allowed", "allowed", "allowed", "allowed", "denied", "denied"}
	if strings.Join(results, ",") != strings.Join(want, ",") {
		t.Errorf("results = %q, want %q", results, want)
	}
}

func TestCacheBounds(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	c := newCache(time.Second, 3, func() time.Time { return now })
	d := &Decision{Allowed: true}
	for i := range 5 {
		c.put(sha256.Sum256([]byte{byte(i)}), d)
	}
	if n := c.len(); n != 3 {
		t.Errorf("entries = %d, want the bound 3", n)
	}
	k := sha256.Sum256([]byte{4})
	if _, ok := c.get(k); !ok {
		t.Errorf("the last entry put is missing")
	}
	now = now.Add(time.Second)
	if _, ok := c.get(k); ok {
		t.Errorf("an entry is served at its expiry")
	}
}

// TestForwardedFor: the service gets X-Forwarded-For as an upstream
// would: a trusted proxy's chain with the peer appended, an untrusted
// peer's own address only.
func TestForwardedFor(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.Header.Get("X-Forwarded-For"))
	}))
	defer srv.Close()
	s, err := Build(&config.ExternalAuth{Name: "authz", URL: srv.URL, Timeout: config.Duration(time.Second), OnFailure: config.ExternalDeny,
		ResponseHeaders: []string{"X-Seen"}}, Options{Transport: http.DefaultTransport, Trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ peer, want string }{
		{"192.0.2.1:4000", "203.0.113.7, 192.0.2.1"},
		{"198.51.100.9:4000", "198.51.100.9"},
	}
	for _, tt := range tests {
		r := request("/a", "X-Forwarded-For", "203.0.113.7")
		r.RemoteAddr = tt.peer
		d, err := s.Check(r)
		if err != nil || len(d.Headers) != 1 || d.Headers[0][1] != tt.want {
			t.Errorf("peer %s: service saw X-Forwarded-For %v (%v), want %q", tt.peer, d.Headers, err, tt.want)
		}
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := build(t, srv.URL, func(c *config.ExternalAuth) { c.Timeout = config.Duration(50 * time.Millisecond) })
	start := time.Now()
	_, err := s.Check(request("/a"))
	if d := time.Since(start); err == nil || d > 500*time.Millisecond {
		t.Errorf("Check() = %v after %v, want auth_unavailable after about 50ms", err, d)
	}
}
