package conformance

import (
	"fmt"
	"strings"
)

// adminCases are what a web page can make a browser send to an admin API
// without a token on loopback (class 5): DNS rebinding (a foreign Host),
// cross-site "simple" requests (text/plain bodies, a foreign Origin).
// Nothing may be created.
func adminCases(g *gateway) []tcase {
	host := strings.TrimPrefix(g.AdminURL, "http://")
	req := func(method, path, hostHeader string, headers ...string) string {
		s := method + " " + path + " HTTP/1.1\r\nHost: " + hostHeader + "\r\n"
		for _, h := range headers {
			s += h + "\r\n"
		}
		return s + "Connection: close\r\n"
	}
	withBody := func(head, body string) string {
		return head + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	noBody := func(head string) string { return head + "\r\n" }
	// absent checks, after the case, that the consumer was not created.
	absent := func(id string) func(result, []*upRequest) string {
		return func(result, []*upRequest) string {
			res := exchangeRaw(host, noBody(req("GET", "/admin/consumers/"+id, host)), wireOpts{})
			if len(res.Replies) == 0 || res.Replies[0].Status != 404 {
				return fmt.Sprintf("GET /admin/consumers/%s afterwards = %s, want 404: the consumer was created", id, res)
			}
			return ""
		}
	}
	noKey := func(res result, _ []*upRequest) string {
		for _, rp := range res.Replies {
			if strings.Contains(string(rp.Body), `"key"`) {
				return "a key was minted for a cross-site request"
			}
		}
		return ""
	}
	const rebinding = "DNS rebinding: a page on evil.example resolves its own name to 127.0.0.1"
	return []tcase{
		{class: 5, admin: true, name: "GET /admin/config with the admin's Host (control)", send: noBody(req("GET", "/admin/config", host)), want: "200"},
		{class: 5, admin: true, name: "GET /admin/config with Host: localhost (control)", send: noBody(req("GET", "/admin/config", "localhost")), want: "200"},
		{class: 5, admin: true, name: "GET /admin/config with Host: evil.example", send: noBody(req("GET", "/admin/config", "evil.example")),
			want: "403|421", code: "forbidden", anchor: rebinding},
		{class: 5, admin: true, name: "GET /admin/config with Host: evil.example:port", send: noBody(req("GET", "/admin/config", "evil.example:"+port(host))),
			want: "403|421", code: "forbidden", anchor: rebinding},
		{class: 5, admin: true, name: "POST /admin/consumers as text/plain", send: withBody(req("POST", "/admin/consumers", host, "Content-Type: text/plain"), `{"id":"evil-plain"}`),
			want: "415", code: "unsupported_media_type", check: absent("evil-plain"), anchor: "a cross-site form or fetch without preflight can only send text/plain"},
		{class: 5, admin: true, name: "POST /admin/consumers without Content-Type", send: withBody(req("POST", "/admin/consumers", host), `{"id":"evil-none"}`),
			want: "415", code: "unsupported_media_type", check: absent("evil-none")},
		{class: 5, admin: true, name: "POST /admin/consumers from a foreign Origin", send: withBody(req("POST", "/admin/consumers", host, "Content-Type: application/json", "Origin: http://evil.example"), `{"id":"evil-origin"}`),
			want: "403", code: "forbidden", check: absent("evil-origin")},
		{class: 5, admin: true, name: "POST /admin/consumers text/plain from a foreign Origin", send: withBody(req("POST", "/admin/consumers", host, "Content-Type: text/plain", "Origin: http://evil.example"), `{"id":"evil-both"}`),
			want: "403|415", check: absent("evil-both")},
		{class: 5, admin: true, name: "POST /admin/consumers/acme/keys from a foreign Origin", send: withBody(req("POST", "/admin/consumers/acme/keys", host, "Content-Type: text/plain", "Origin: http://evil.example"), ""),
			want: "403|415", check: noKey},
		{class: 5, admin: true, name: "GET /admin/consumers from a foreign Origin", send: noBody(req("GET", "/admin/consumers", host, "Origin: http://evil.example")),
			want: "403", code: "forbidden"},
		{class: 5, admin: true, name: "GET /ui/ (the dashboard, on by default on loopback) with the admin's Host (control)", send: noBody(req("GET", "/ui/", host)), want: "200"},
		{class: 5, admin: true, name: "GET /ui/ with Host: evil.example", send: noBody(req("GET", "/ui/", "evil.example:"+port(host))),
			want: "403|421", code: "forbidden", anchor: rebinding},
		{class: 5, admin: true, name: "GET /admin/session from a foreign Origin", send: noBody(req("GET", "/admin/session", host, "Origin: http://evil.example")),
			want: "403", code: "forbidden"},
		{class: 5, admin: true, name: "POST /admin/consumers as JSON (control)", send: withBody(req("POST", "/admin/consumers", host, "Content-Type: application/json", "Origin: http://"+host), `{"id":"conformance-ok"}`),
			want: "201"},
	}
}

func port(hostport string) string {
	i := strings.LastIndexByte(hostport, ':')
	return hostport[i+1:]
}
