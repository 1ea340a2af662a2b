package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestNewEntry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	p := Policy{TTL: 30 * time.Second, StaleWhileRevalidate: 10 * time.Second, MaxBody: 1 << 20}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		authorized bool
		// policy replaces p when set.
		policy     *Policy
		stored     bool
		lifetime   time.Duration
		stale      time.Duration
		mustReval  bool
		initialAge time.Duration
	}{
		{name: "no headers: route ttl", status: 200, header: http.Header{}, stored: true, lifetime: 30 * time.Second, stale: 10 * time.Second},
		{name: "no headers, no ttl", status: 200, header: http.Header{}, policy: &Policy{}, stored: false},
		{name: "no headers, no ttl, etag: stored to revalidate", status: 200, header: http.Header{"Etag": {`"a"`}}, policy: &Policy{}, stored: true},
		{name: "max-age wins over ttl", status: 200, header: http.Header{"Cache-Control": {"max-age=120"}}, stored: true, lifetime: 2 * time.Minute, stale: 10 * time.Second},
		{name: "s-maxage wins over max-age", status: 200, header: http.Header{"Cache-Control": {"max-age=120, s-maxage=5"}}, stored: true, lifetime: 5 * time.Second, mustReval: true},
		{name: "expires minus date", status: 200, header: http.Header{"Date": {date}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, stored: true, lifetime: time.Hour, stale: 10 * time.Second},
		{name: "invalid expires is stale", status: 200, header: http.Header{"Expires": {"0"}}, stored: false},
		{name: "max-age wins over expires", status: 200, header: http.Header{"Cache-Control": {"max-age=7"}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, stored: true, lifetime: 7 * time.Second, stale: 10 * time.Second},
		{name: "no-store", status: 200, header: http.Header{"Cache-Control": {"no-store, max-age=60"}}, stored: false},
		{name: "private", status: 200, header: http.Header{"Cache-Control": {"private, max-age=60"}}, stored: false},
		{name: "no-cache with etag: revalidate each use", status: 200, header: http.Header{"Cache-Control": {"no-cache"}, "Etag": {`"a"`}}, stored: true, lifetime: 0, mustReval: true},
		{name: "no-cache without validator", status: 200, header: http.Header{"Cache-Control": {"no-cache"}}, stored: false},
		{name: "set-cookie", status: 200, header: http.Header{"Set-Cookie": {"session=1"}, "Cache-Control": {"max-age=60"}}, stored: false},
		{name: "vary star", status: 200, header: http.Header{"Vary": {"*"}}, stored: false},
		{name: "event stream", status: 200, header: http.Header{"Content-Type": {"text/event-stream"}}, stored: false},
		{name: "trailers", status: 200, header: http.Header{"Trailer": {"X-Checksum"}, "Cache-Control": {"max-age=60"}}, stored: false},
		{name: "authorized request", status: 200, header: http.Header{"Cache-Control": {"max-age=60"}}, authorized: true, stored: false},
		{name: "authorized request, public", status: 200, header: http.Header{"Cache-Control": {"public, max-age=60"}}, authorized: true, stored: true, lifetime: time.Minute, stale: 10 * time.Second},
		{name: "authorized request, s-maxage", status: 200, header: http.Header{"Cache-Control": {"s-maxage=60"}}, authorized: true, stored: true, lifetime: time.Minute, mustReval: true},
		{name: "404 heuristic", status: 404, header: http.Header{}, stored: true, lifetime: 30 * time.Second, stale: 10 * time.Second},
		{name: "302 needs explicit freshness", status: 302, header: http.Header{}, stored: false},
		{name: "302 with max-age", status: 302, header: http.Header{"Cache-Control": {"max-age=9"}}, stored: true, lifetime: 9 * time.Second, stale: 10 * time.Second},
		{name: "302 public uses ttl", status: 302, header: http.Header{"Cache-Control": {"public"}}, stored: true, lifetime: 30 * time.Second, stale: 10 * time.Second},
		{name: "500 needs explicit freshness", status: 500, header: http.Header{}, stored: false},
		{name: "206 never", status: 206, header: http.Header{"Cache-Control": {"max-age=60"}}, stored: false},
		{name: "304 never", status: 304, header: http.Header{"Cache-Control": {"max-age=60"}}, stored: false},
		{name: "must-revalidate: no stale serving", status: 200, header: http.Header{"Cache-Control": {"max-age=60, must-revalidate"}}, stored: true, lifetime: time.Minute, mustReval: true},
		{name: "upstream stale-while-revalidate wins", status: 200, header: http.Header{"Cache-Control": {"max-age=60, stale-while-revalidate=99"}}, stored: true, lifetime: time.Minute, stale: 99 * time.Second},
		{name: "age header counts", status: 200, header: http.Header{"Cache-Control": {"max-age=60"}, "Age": {"20"}}, stored: true, lifetime: time.Minute, stale: 10 * time.Second, initialAge: 20 * time.Second},
		{name: "old date counts", status: 200, header: http.Header{"Cache-Control": {"max-age=60"}, "Date": {now.Add(-45 * time.Second).Format(http.TimeFormat)}}, stored: true, lifetime: time.Minute, stale: 10 * time.Second, initialAge: 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pol := p
			if tt.policy != nil {
				pol = *tt.policy
			}
			e, ok := newEntry(tt.status, tt.header, nil, exchange{requested: now, received: now, authorized: tt.authorized}, pol)
			if ok != tt.stored {
				t.Fatalf("newEntry() stored = %v, want %v", ok, tt.stored)
			}
			if !ok {
				return
			}
			if e.Lifetime != tt.lifetime || e.Stale != tt.stale || e.MustRevalidate != tt.mustReval || e.InitialAge != tt.initialAge {
				t.Errorf("newEntry() = lifetime %v stale %v must-revalidate %v initial age %v, want %v %v %v %v",
					e.Lifetime, e.Stale, e.MustRevalidate, e.InitialAge, tt.lifetime, tt.stale, tt.mustReval, tt.initialAge)
			}
		})
	}
}

func TestVaryNames(t *testing.T) {
	t.Parallel()
	got, ok := varyNames([]string{"accept-language, Accept", "ACCEPT"})
	if !ok || len(got) != 2 || got[0] != "Accept" || got[1] != "Accept-Language" {
		t.Errorf("varyNames() = %q, %v; want [Accept Accept-Language], true", got, ok)
	}
	if _, ok := varyNames([]string{"Accept, *"}); ok {
		t.Error("varyNames(*) = true, want false")
	}
}

func TestRefreshed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	old := &Entry{Status: 200, Header: http.Header{"Etag": {`"v1"`}, "Cache-Control": {"max-age=10"}, "Content-Length": {"4"}}, Body: []byte("body"),
		Stored: now.Add(-time.Hour), Lifetime: 10 * time.Second}
	e, ok := refreshed(old, http.Header{"Cache-Control": {"max-age=300"}, "Content-Length": {"0"}}, exchange{requested: now, received: now}, Policy{})
	if !ok {
		t.Fatal("refreshed() = false, want the entry kept")
	}
	if e.Lifetime != 5*time.Minute || !e.Fresh(now) || string(e.Body) != "body" || e.Header.Get("Content-Length") != "4" {
		t.Errorf("refreshed() = lifetime %v body %q content-length %q, want 5m0s, the stored body and length", e.Lifetime, e.Body, e.Header.Get("Content-Length"))
	}
	if _, ok := refreshed(old, http.Header{"Cache-Control": {"no-store"}}, exchange{requested: now, received: now}, Policy{}); ok {
		t.Error("refreshed() with no-store = true, want false")
	}
}

func TestNotModified(t *testing.T) {
	t.Parallel()
	lm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &Entry{Status: 200, Header: http.Header{"Etag": {`W/"v1"`}, "Last-Modified": {lm.Format(http.TimeFormat)}}}
	tests := []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"none", http.Header{}, false},
		{"etag matches weakly", http.Header{"If-None-Match": {`"v1"`}}, true},
		{"etag in a list", http.Header{"If-None-Match": {`"v0", W/"v1"`}}, true},
		{"star", http.Header{"If-None-Match": {"*"}}, true},
		{"other etag", http.Header{"If-None-Match": {`"v2"`}}, false},
		{"etag beats date", http.Header{"If-None-Match": {`"v2"`}, "If-Modified-Since": {lm.Format(http.TimeFormat)}}, false},
		{"not modified since", http.Header{"If-Modified-Since": {lm.Format(http.TimeFormat)}}, true},
		{"modified since", http.Header{"If-Modified-Since": {lm.Add(-time.Hour).Format(http.TimeFormat)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &http.Request{Header: tt.header}
			if got := notModified(r, e); got != tt.want {
				t.Errorf("notModified() = %v, want %v", got, tt.want)
			}
		})
	}
}
