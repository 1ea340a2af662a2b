package conformance

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// pathAuthz is a forward-auth service that allows only paths under
// /public, as a service deciding by X-Forwarded-Uri would, and keeps
// every X-Forwarded-Uri it was asked about.
type pathAuthz struct {
	*httptest.Server
	mu   sync.Mutex
	uris []string
}

func newPathAuthz(t *testing.T) *pathAuthz {
	a := &pathAuthz{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri := r.Header.Get("X-Forwarded-Uri")
		a.mu.Lock()
		a.uris = append(a.uris, uri)
		a.mu.Unlock()
		p, _, _ := strings.Cut(uri, "?")
		if p == "/public" || strings.HasPrefix(p, "/public/") {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "denied by policy")
	}))
	t.Cleanup(a.Close)
	return a
}

// take returns and forgets the URIs asked about so far.
func (a *pathAuthz) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.uris
	a.uris = nil
	return out
}

// TestExternalAuthPaths tries to get a request for /private past a
// forward-auth service that allows /public only: path tricks must be
// described to the service as the canonical path the router used, so the
// service and the upstream never disagree on what was asked.
func TestExternalAuthPaths(t *testing.T) {
	t.Parallel()
	up := newScripted(t, nil)
	authz := newPathAuthz(t)
	g := &gateway{Gantry: testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
auth:
  external:
    - name: authz
      url: %q
      timeout: 1s
      cache: 1m
upstreams:
  app: {targets: [{url: %q}]}
routes:
  - name: files
    match: {path_prefix: /files}
    upstream: app
    allow_encoded_slash: true
    auth: ["external:authz"]
  - name: matrix
    match: {path_prefix: /public/m}
    upstream: app
    allow_matrix_params: true
    auth: ["external:authz"]
  - name: all
    match: {path_prefix: /}
    upstream: app
    auth: ["external:authz"]
`, authz.URL+"/check", up.URL())), up: up, upstream: "app"}

	// Every URI the service was asked about must be canonical (no dot
	// segment, empty segment or encoded dot; matrix parameters only where
	// the route keeps them), and, when the upstream got the request, name
	// the path it got.
	agree := func(res result, reqs []*upRequest) string {
		uris := authz.take()
		for _, u := range uris {
			p, _, _ := strings.Cut(u, "?")
			lp := strings.ToLower(p)
			if strings.Contains(p, "/.") || strings.Contains(p, "//") || strings.Contains(lp, "%2e") || strings.Contains(lp, "%2f") ||
				(strings.Contains(p, ";") && !strings.HasPrefix(p, "/public/m")) {
				return fmt.Sprintf("service was asked about %q, not a canonical path", u)
			}
			for _, r := range reqs {
				if r.Complete && canonical(r.URI) != canonical(p) {
					return fmt.Sprintf("service was asked about %q, upstream got %q", u, r.URI)
				}
			}
		}
		for _, r := range reqs {
			if r.Complete && len(uris) == 0 {
				return fmt.Sprintf("upstream got %q, the service was never asked", r.URI)
			}
		}
		return ""
	}
	try := func(target, want string, headers ...string) tcase {
		h := ""
		for _, v := range headers {
			h += v + "\r\n"
		}
		return tcase{class: 8, name: "external authz: " + target + " " + strings.Join(headers, " "),
			send: "GET " + target + " HTTP/1.1\r\nHost: conformance.test\r\n" + h + "Connection: close\r\n\r\n",
			want: want, never: []string{"2xx"}, up: upWant{notUnder: []string{"/private", "/files/private"}}, check: agree}
	}
	cases := []tcase{
		try("/private/x", "403"),
		try("/public/../private/x", "403"),
		try("/public/%2e%2e/private/x", "403"),
		try("/public/..%2fprivate/x", "400|403"),
		try("/public/..%2Fprivate/x", "400|403"),
		try("//private/x", "403"),
		try("/./private/x", "403"),
		try("/%70rivate/x", "403"),
		try("/private;x", "400|403"),
		try("/private;/x", "400|403"),
		try("/public;x/../private/x", "400|403"),
		try("/public/..;/private/x", "400|403"),
		try("/public/m;x=1/../../private", "400|403"),
		try("/files/public/..%2f..%2ffiles/private", "400|403"),
		{class: 8, name: "external authz: /private%3Ftoken=1 (an encoded ? is no query)", send: "GET /private%3Ftoken=1 HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "403", up: upWant{nothing: true}, check: func(res result, reqs []*upRequest) string {
				if uris := authz.take(); len(uris) != 1 || uris[0] != "/private%3Ftoken=1" {
					return fmt.Sprintf("service was asked about %q, want [/private%%3Ftoken=1]", uris)
				}
				return ""
			}},
		{class: 8, name: "external authz: /public/caf%c3%a9 (non-ASCII stays encoded)", send: "GET /public/caf%c3%a9 HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "200", check: func(res result, reqs []*upRequest) string {
				if uris := authz.take(); len(uris) != 1 || uris[0] != "/public/caf%C3%A9" {
					return fmt.Sprintf("service was asked about %q, want [/public/caf%%C3%%A9]", uris)
				}
				return ""
			}},
		try("/private/x", "403", "X-Forwarded-Uri: /public/x", "X-Original-URL: /public/x", "X-Forwarded-Method: GET"),
		{class: 8, name: "external authz: /public/x (control)", send: "GET /public/x?a=1 HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "200", up: upWant{uri: "/public/x?a=1"}, check: agree},
		// The cache is keyed by the canonical path: the same path spelled
		// otherwise is the control's question, answered from the cache.
		{class: 8, name: "external authz: /%70ublic/./x?a=1 (the control, cached)", send: "GET /%70ublic/./x?a=1 HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "200", up: upWant{uri: "/public/x?a=1"}, check: func(result, []*upRequest) string {
				if uris := authz.take(); len(uris) != 0 {
					return fmt.Sprintf("service asked about %q again, want the cached answer to the canonical path", uris)
				}
				return ""
			}},
	}
	g.run(t, cases, false)
}
