package demo

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestBaseURL(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{":8080", "http://127.0.0.1:8080"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:8080", "http://[::1]:8080"},
		{"[::1]:9080", "http://[::1]:9080"},
		{"localhost:8080", "http://localhost:8080"},
		{"https://api.example.com/", "https://api.example.com"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"gateway", "http://gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			if got := baseURL(tt.addr); got != tt.want {
				t.Errorf("baseURL(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestCurlLinesShape(t *testing.T) {
	lines := curlLines(":8080", "127.0.0.1:9080")
	if len(lines) == 0 {
		t.Fatal("CurlLines() is empty")
	}
	for i := 0; i < len(lines); i += 3 {
		comment, cmd := lines[i], lines[i+1]
		if !strings.HasPrefix(comment, "# ") {
			t.Errorf("line %d = %q, want a '# ' comment", i, comment)
		}
		if !strings.HasPrefix(cmd, "curl ") && !strings.HasPrefix(cmd, "for ") && !strings.HasPrefix(cmd, "websocat ") {
			t.Errorf("line %d = %q, want a command", i+1, cmd)
		}
		if strings.Count(cmd, "'")%2 != 0 {
			t.Errorf("line %d = %q has unbalanced quotes", i+1, cmd)
		}
		if !strings.Contains(cmd, "127.0.0.1:8080") && !strings.Contains(cmd, "127.0.0.1:9080") {
			t.Errorf("line %d = %q names neither the gateway nor the admin API", i+1, cmd)
		}
		if i+2 < len(lines) && lines[i+2] != "" {
			t.Errorf("line %d = %q, want a blank line between examples", i+2, lines[i+2])
		}
	}
}

func TestCurlLinesCoverTheTour(t *testing.T) {
	all := strings.Join(curlLines(gatewayAddr, adminAddr), "\n")
	for _, want := range []string{
		"8080/users\n",
		"/users/1",
		"x-served-by",
		"/v1/orders/7",
		"/v2/orders/7",
		"-H 'API-Version: v2'",
		"?version=v2",
		"/echo",
		"X-Request-ID",
		"/nowhere",
		"/account;jsessionid=1/users/1",
		"-X DELETE",
		"curl -N",
		"ws://127.0.0.1:8080/ws/chat",
		"http://127.0.0.1:9080/admin/routes",
		"http://127.0.0.1:9080/metrics",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("CurlLines() lacks %q", want)
		}
	}
}

// matrixParam is a segment's ;parameters.
var matrixParam = regexp.MustCompile(`;[^/]*`)

// gatewayURL finds the gateway URLs in a command line.
var gatewayURL = regexp.MustCompile(`(?:http|ws)://127\.0\.0\.1:8080[^ ']*`)

// TestExamplesMatchQuickstartRoutes checks that every path the banner sends
// to the gateway has a route in quickstart.yaml, except the one meant to
// show a 404.
func TestExamplesMatchQuickstartRoutes(t *testing.T) {
	q := loadQuickstart(t)
	version := regexp.MustCompile(`^/v\d+(/|$)`)
	for _, e := range Examples(gatewayAddr, adminAddr) {
		for _, raw := range gatewayURL.FindAllString(e.Command, -1) {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("%q: %v", raw, err)
			}
			path := version.ReplaceAllString(u.Path, "/")
			// Matched as the gateway matches: without ;parameters.
			path = matrixParam.ReplaceAllString(path, "")
			if path == "/nowhere" {
				continue
			}
			found := false
			for _, r := range q.Routes {
				if routeMatches(r.Match.Path, r.Match.PathPrefix, path) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("example %q: no quickstart route matches %s", e.What, path)
			}
		}
	}
}

// routeMatches is a small stand-in for the router: exact paths, {param}
// segments and segment-wise prefixes.
func routeMatches(pattern, prefix, path string) bool {
	if prefix != "" {
		return path == prefix || strings.HasPrefix(path, strings.TrimSuffix(prefix, "/")+"/")
	}
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func TestBanner(t *testing.T) {
	var b strings.Builder
	if err := Banner(&b, ":8080", "127.0.0.1:9080", "127.0.0.1:9090"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"gateway    http://127.0.0.1:8080\n",
		"admin API  http://127.0.0.1:9080\n",
		"dashboard  http://127.0.0.1:9080/ui/\n",
		"portal     http://127.0.0.1:9090/  (sign in as a consumer with the API key demo-key-0123456789abcdef)\n",
		"  curl -s http://127.0.0.1:8080/users\n",
		"Ctrl-C",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Banner() lacks %q:\n%s", want, out)
		}
	}
}

func TestServiceLines(t *testing.T) {
	s := &Services{Addrs: defaultAddrs()}
	lines := s.ServiceLines()
	all := strings.Join(lines, "\n")
	for _, addr := range []string{usersAddr, users2Addr, ordersAddr, ordersLegacyAddr, chatAddr, functionAddr} {
		if !strings.Contains(all, addr) {
			t.Errorf("ServiceLines() lacks %s:\n%s", addr, all)
		}
	}
}

func TestBannerWithoutPortal(t *testing.T) {
	var b strings.Builder
	if err := Banner(&b, ":8080", "127.0.0.1:9080", ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "portal") {
		t.Errorf("Banner() without a portal mentions one:\n%s", b.String())
	}
}
