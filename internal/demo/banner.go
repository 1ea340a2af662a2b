package demo

import (
	"fmt"
	"io"
	"net"
	"strings"
)

// Example is one command to paste, with what it shows.
type Example struct {
	// What says in one line what the command shows.
	What string
	// Command is a shell command line (POSIX shell quoting).
	Command string
}

// Examples returns the commands that tour the quickstart config through the
// gateway at gateway and the admin API at admin. Both are addresses as in
// the config ("127.0.0.1:8080", ":8080") or base URLs ("http://...").
func Examples(gateway, admin string) []Example {
	g, a := baseURL(gateway), baseURL(admin)
	ws := "ws" + strings.TrimPrefix(g, "http")
	return []Example{
		{"list the users (route users-list, exact path)",
			"curl -s " + g + "/users"},
		{"one user (route users, path parameter {id})",
			"curl -s " + g + "/users/1"},
		{"round robin: users-1 has weight 3, users-2 weight 1; watch X-Served-By",
			"for i in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null -D - " + g + "/users/1 | grep -i x-served-by; done"},
		{"API version in the path: v1 (orders-legacy) answers a decimal total",
			"curl -s " + g + "/v1/orders/7"},
		{"... and v2 (orders) answers cents, currency and items",
			"curl -s " + g + "/v2/orders/7"},
		{"API version in a header (no version anywhere means the default, v1)",
			"curl -s -H 'API-Version: v2' " + g + "/orders/7"},
		{"API version in the query string",
			"curl -s '" + g + "/orders/7?version=v2'"},
		{"v2 filters orders by user",
			"curl -s '" + g + "/v2/orders?user_id=1'"},
		{"what the upstream received (route echo): X-Forwarded-* set by the gateway (the client's own X-Forwarded-For is not trusted), your X-Request-ID, X-Gateway added, X-Debug removed",
			"curl -s -H 'X-Request-ID: demo-42' -H 'X-Debug: 1' -H 'X-Forwarded-For: 203.0.113.9' '" + g + "/echo/hello?lang=en'"},
		{"response headers: route users passes the service's X-Powered-By through, route echo removes it",
			"curl -s -o /dev/null -D - " + g + "/users/1; curl -s -o /dev/null -D - " + g + "/echo"},
		{"the upstream's own 404 passes through",
			"curl -si " + g + "/users/42"},
		{"no route matches: the gateway answers 404 not_found",
			"curl -si " + g + "/nowhere"},
		{"the path matches but not the method: 405 method_not_allowed with Allow",
			"curl -si -X DELETE " + g + "/users/1"},
		{"CORS preflight answered by the gateway (route users)",
			"curl -si -X OPTIONS -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: GET' " + g + "/users/1"},
		{"server-sent events stream through unbuffered: 5 events, 200ms apart (-N turns off curl's buffer)",
			"curl -N " + g + "/events"},
		{"WebSocket echo: type a line, get it back (websocat: https://github.com/vi/websocat)",
			"websocat " + ws + "/ws/chat"},
		{"... or just watch the handshake pass through with curl (101 Switching Protocols; Ctrl-C to quit)",
			"curl -si -N -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' " + g + "/ws/chat"},
		{"an API key identifies the consumer (route account); without one: 401",
			"curl -s -H 'X-API-Key: " + demoKey + "' " + g + "/account/users/1; curl -si " + g + "/account/users/1 | head -1"},
		{"a path a Java upstream would read as /account/users/1 is matched as that route, and its ;parameter refused: 400 bad_request (docs/security.md)",
			"curl -si '" + g + "/account;jsessionid=1/users/1'"},
		{"rate limit: 3 per 10s on route account, then 429 rate_limited with Retry-After; watch RateLimit-Remaining",
			"for i in 1 2 3 4 5; do curl -s -o /dev/null -w '%{http_code} ' -H 'X-API-Key: " + demoKey + "' " + g + "/account/users/2; done; echo"},
		{"a serverless route: the gateway invokes the function greeter through the Lambda invoke API (a local stand-in here) and answers with its result",
			"curl -s " + g + "/hello/ada"},
		{"aggregation: the user and their orders (a call that waits for the user's id), merged into one answer",
			"curl -s " + g + "/dashboard/1"},
		{"an LLM route in front of an OpenAI-compatible API (a local stand-in): the gateway checks the model, meters the tokens the answer reports, and shows the consumer's token budget in X-RateLimit-Remaining-Tokens",
			"curl -s -D - -H 'X-API-Key: " + llmKey + "' -d '{\"model\":\"demo-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}' " + g + "/v1/chat/completions"},
		{"... streamed token by token; the gateway asked the stream for its usage and removes that last chunk, which the client did not ask for",
			"curl -N -H 'X-API-Key: " + llmKey + "' -d '{\"model\":\"demo-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}' " + g + "/v1/chat/completions"},
		{"a model the route does not list: 403 model_not_allowed, and the API never sees the request",
			"curl -si -H 'X-API-Key: " + llmKey + "' -d '{\"model\":\"gpt-5\",\"messages\":[]}' " + g + "/v1/chat/completions"},
		{"token limit: 1000 tokens a minute; answers of 300 tokens are admitted while tokens are left, then 429 rate_limited",
			"for i in 1 2 3 4 5; do curl -s -o /dev/null -w '%{http_code} ' -H 'X-API-Key: " + llmKey + "' -d '{\"model\":\"demo-mini\",\"max_tokens\":300,\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}]}' " + g + "/v1/chat/completions; done; echo"},
		{"tokens per model in the usage ledger, and the token invoice: one line per model at its price per million tokens",
			"curl -s '" + a + "/admin/usage?consumer=ai-demo&group_by=model'; curl -s " + a + "/admin/invoices/ai-demo"},
		{"usage per consumer and route, as billing sees it (flushed every second)",
			"curl -s '" + a + "/admin/usage?consumer=demo&group_by=route'"},
		{"this month's invoice for the demo consumer, from its plan's pricing",
			"curl -s " + a + "/admin/invoices/demo"},
		{"admin API: the compiled routes",
			"curl -s " + a + "/admin/routes"},
		{"admin API: upstreams and the health of each target",
			"curl -s " + a + "/admin/upstreams"},
		{"Prometheus metrics",
			"curl -s " + a + "/metrics | grep '^gantry_'"},
	}
}

// demoKey is the quickstart's API key of the consumer demo, on plan
// starter.
const demoKey = "demo-key-0123456789abcdef"

// llmKey is the quickstart's API key of the consumer ai-demo, whose plan
// has token limits and token prices.
const llmKey = "ai-demo-key-0123456789abcdef"

// curlLines returns Examples as lines ready to paste into a shell: each
// command preceded by a "# " comment saying what it shows, and a blank line
// between examples.
func curlLines(gateway, admin string) []string {
	ex := Examples(gateway, admin)
	lines := make([]string, 0, 3*len(ex))
	for i, e := range ex {
		if i > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, "# "+e.What, e.Command)
	}
	return lines
}

// Banner writes the demo's welcome: where the gateway and admin API listen
// and the commands to try.
func Banner(w io.Writer, gateway, admin, portal string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Gantry demo is running.\n\n")
	fmt.Fprintf(&b, "  gateway    %s\n", baseURL(gateway))
	fmt.Fprintf(&b, "  admin API  %s\n", baseURL(admin))
	// The quickstart's admin listener is loopback: the dashboard is on.
	fmt.Fprintf(&b, "  dashboard  %s/ui/\n", baseURL(admin))
	if portal != "" {
		fmt.Fprintf(&b, "  portal     %s/  (sign in as a consumer with the API key %s)\n", baseURL(portal), demoKey)
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "Try these in another terminal:\n\n")
	for _, l := range curlLines(gateway, admin) {
		if l != "" {
			b.WriteString("  ")
			b.WriteString(l)
		}
		b.WriteByte('\n')
	}
	b.WriteString("\nPress Ctrl-C to stop.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ServiceLines describes the running sample services, one line each, for
// the CLI to print next to the banner.
func (s *Services) ServiceLines() []string {
	a := s.Addrs
	return []string{
		fmt.Sprintf("users-1    http://%s  GET /users, /users/{id}, /events, any /echo", a.Users),
		fmt.Sprintf("users-2    http://%s  the same, second instance", a.Users2),
		fmt.Sprintf("orders-v2  http://%s  GET /orders[?user_id=N], /orders/{id}", a.Orders),
		fmt.Sprintf("orders-v1  http://%s  GET /orders, /orders/{id} (legacy shape)", a.OrdersLegacy),
		fmt.Sprintf("chat       ws://%s    WebSocket echo at /ws/chat", a.Chat),
		fmt.Sprintf("lambda     http://%s  Lambda invoke API stand-in, function greeter", a.Function),
		fmt.Sprintf("llm        http://%s  OpenAI-compatible API stand-in, POST /v1/chat/completions", a.LLM),
	}
}

// baseURL turns a listen address into a URL a client can use: a missing or
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes loopback.
// A value that already has a scheme is kept, without a trailing slash.
func baseURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
