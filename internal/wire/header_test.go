package wire

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDropAmbiguousHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"X_consumer_id":    {"acme"},
		"X-Consumer-Id":    {"globex"},
		"_":                {"x"},
		"Accept":           {"*/*"},
		"X-Api-Key":        {"k"},
		"Content_length_":  {"1"},
		"X.consumer.id":    {"admin"},
		"X-Consumer.Id":    {"admin"},
		".":                {"x"},
		"X-Consumer+id":    {"admin"},
		"X-Consumer~id":    {"admin"},
		"X-Consumer!id":    {"admin"},
		"X-Consumer*id":    {"admin"},
		"X-Consumer#id":    {"admin"},
		"X-Consumer$id":    {"admin"},
		"X-Consumer%id":    {"admin"},
		"X-Consumer&id":    {"admin"},
		"X-Consumer'id":    {"admin"},
		"X-Consumer^id":    {"admin"},
		"X-Consumer`id":    {"admin"},
		"X-Consumer|id":    {"admin"},
		"X-Consumer@id":    {"admin"},
		"X-Consumer[id":    {"admin"},
		"X-Consumer\x7fid": {"admin"},
		"X-Request-Id-2":   {"1"},
		"Dnt":              {"1"},
		"x-lower-case":     {"1"},
		"Proxy":            {"http://evil.example:8080"},
		"proxy":            {"http://evil.example:8080"},
		"Proxy-Id":         {"kept"},
	}
	DropAmbiguousHeaders(h)
	want := http.Header{"X-Consumer-Id": {"globex"}, "Accept": {"*/*"}, "X-Api-Key": {"k"}, "X-Request-Id-2": {"1"}, "Dnt": {"1"}, "x-lower-case": {"1"}, "Proxy-Id": {"kept"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestStripUpgrade(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		in            http.Header
		want          http.Header
		wantWebSocket bool
	}{
		{
			name:          "websocket",
			in:            http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"k"}},
			want:          http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"k"}},
			wantWebSocket: true,
		},
		{
			name:          "websocket any case in a list",
			in:            http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {" WebSocket "}},
			want:          http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {" WebSocket "}},
			wantWebSocket: true,
		},
		{
			name:          "websocket with http2-settings",
			in:            http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"websocket"}, "Http2-Settings": {"AAA"}},
			want:          http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
			wantWebSocket: true,
		},
		{
			name: "h2c",
			in:   http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAAQAAP__"}},
			want: http.Header{},
		},
		{
			name: "h2c keeps other tokens",
			in:   http.Header{"Connection": {"keep-alive, Upgrade", "x-trace"}, "Upgrade": {"h2c"}, "X-Trace": {"1"}},
			want: http.Header{"Connection": {"keep-alive, x-trace"}, "X-Trace": {"1"}},
		},
		{
			name: "websocket without connection token",
			in:   http.Header{"Connection": {"keep-alive"}, "Upgrade": {"websocket"}},
			want: http.Header{"Connection": {"keep-alive"}},
		},
		{
			name: "websocket among upgrades",
			in:   http.Header{"Connection": {"upgrade"}, "Upgrade": {"h2c, websocket"}},
			want: http.Header{},
		},
		{
			name: "two upgrade headers",
			in:   http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket", "h2c"}},
			want: http.Header{},
		},
		{
			name: "no upgrade",
			in:   http.Header{"Connection": {"close"}, "Accept": {"*/*"}},
			want: http.Header{"Connection": {"close"}, "Accept": {"*/*"}},
		},
		{
			name: "empty",
			in:   http.Header{},
			want: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := StripUpgrade(tt.in); got != tt.wantWebSocket {
				t.Errorf("StripUpgrade() = %v, want %v", got, tt.wantWebSocket)
			}
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDropConnectionListed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{
			name: "claim headers listed",
			in:   http.Header{"Connection": {"X-User-Sub, X-User-Scope"}, "X-User-Sub": {"forged"}, "X-User-Scope": {"admin"}, "Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name: "options and hop-by-hop names kept",
			in:   http.Header{"Connection": {"keep-alive, TE, close"}, "Te": {"trailers"}, "Keep-Alive": {"timeout=5"}},
			want: http.Header{"Connection": {"keep-alive, TE, close"}, "Te": {"trailers"}, "Keep-Alive": {"timeout=5"}},
		},
		{
			name: "websocket keeps upgrade",
			in:   http.Header{"Connection": {"Upgrade, X-Request-ID"}, "Upgrade": {"websocket"}, "X-Request-Id": {"abc"}},
			want: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
		},
		{
			name: "several lines, any case, empty tokens",
			in:   http.Header{"Connection": {" x-forwarded-for ,, close", "X-CONSUMER-ID"}, "X-Forwarded-For": {"1.2.3.4"}, "X-Consumer-Id": {"acme"}, "x-consumer-id": {"raw"}},
			want: http.Header{"Connection": {"close"}},
		},
		{
			name: "nothing listed",
			in:   http.Header{"Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name: "listed name absent",
			in:   http.Header{"Connection": {"X-Missing"}},
			want: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			DropConnectionListed(tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDropConnectionListedNoAllocs(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive"}, "Accept": {"*/*"}}
	if n := testing.AllocsPerRun(100, func() { DropConnectionListed(h) }); n != 0 {
		t.Errorf("DropConnectionListed allocates %v times for a Connection without names", n)
	}
}

func TestDropForwarding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{
			name: "every forwarding field",
			in: http.Header{
				"X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Host": {"evil"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-Port": {"443"}, "X-Forwarded-Prefix": {"/admin"}, "X-Forwarded-Server": {"evil"},
				"X-Forwarded-Scheme": {"https"}, "X-Forwarded-Ssl": {"on"}, "X-Forwarded-Uri": {"/admin"},
				"X-Original-Forwarded-For": {"1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "Forwarded": {"for=1.2.3.4"},
				"x-forwarded-port": {"1"}, "X-Original-Url": {"/admin"}, "x-rewrite-url": {"/admin"},
				"Client-Ip": {"1.2.3.4"}, "X-Client-Ip": {"1.2.3.4"}, "True-Client-Ip": {"1.2.3.4"},
				"Cf-Connecting-Ip": {"1.2.3.4"}, "Fastly-Client-Ip": {"1.2.3.4"}, "X-Cluster-Client-Ip": {"1.2.3.4"},
				"true-client-ip": {"1.2.3.4"},
				"Accept":         {"*/*"},
			},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name: "look-alikes stay",
			in:   http.Header{"X-Forwarded": {"1"}, "X-Forwardedx-For": {"2"}, "X-Original-Urls": {"/a"}, "Client-Ips": {"3"}, "Cache-Control": {"no-cache"}, "Te": {"trailers"}},
			want: http.Header{"X-Forwarded": {"1"}, "X-Forwardedx-For": {"2"}, "X-Original-Urls": {"/a"}, "Client-Ips": {"3"}, "Cache-Control": {"no-cache"}, "Te": {"trailers"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			DropForwarding(tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScrubHeaders(t *testing.T) {
	t.Parallel()
	in := func() http.Header {
		return http.Header{"X_User": {"a"}, "Proxy": {"p"}, "X-Forwarded-For": {"1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "Accept": {"*/*"}}
	}
	h := in()
	ScrubHeaders(h, true)
	if diff := cmp.Diff(http.Header{"Accept": {"*/*"}}, h); diff != "" {
		t.Errorf("forwarding dropped (-want +got):\n%s", diff)
	}
	h = in()
	ScrubHeaders(h, false)
	if diff := cmp.Diff(http.Header{"X-Forwarded-For": {"1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "Accept": {"*/*"}}, h); diff != "" {
		t.Errorf("forwarding kept (-want +got):\n%s", diff)
	}
}

func TestCutAuthScheme(t *testing.T) {
	t.Parallel()
	tests := []struct{ v, scheme, rest string }{
		{"Bearer a.b.c", "Bearer", "a.b.c"},
		{"Bearer\ta.b.c", "Bearer", "a.b.c"},
		{" \tBearer \t a.b.c \t", "Bearer", "a.b.c"},
		{"Bearer", "Bearer", ""},
		{"Bearer ", "Bearer", ""},
		{"Basic eA==", "Basic", "eA=="},
		{"Bearer a b", "Bearer", "a b"},
		{"", "", ""},
	}
	for _, tt := range tests {
		scheme, rest := CutAuthScheme(tt.v)
		if scheme != tt.scheme || rest != tt.rest {
			t.Errorf("CutAuthScheme(%q) = %q, %q, want %q, %q", tt.v, scheme, rest, tt.scheme, tt.rest)
		}
	}
}

// First answers as Header.Get does for canonical keys.
func TestFirst(t *testing.T) {
	h := http.Header{"Upgrade": {"websocket", "h2c"}, "X-Empty": {}, "X-Blank": {""}}
	for _, k := range []string{"Upgrade", "X-Empty", "X-Blank", "X-Missing"} {
		if got, want := First(h, k), h.Get(k); got != want {
			t.Errorf("First(%q) = %q, Header.Get says %q", k, got, want)
		}
	}
}

// FuzzSanitize holds Sanitize to the three calls it stands for, in their
// order, on header maps built from the input: a line is "name: value",
// names kept as they come (also non-canonical and repeated ones). It
// holds SanitizeNames to Sanitize too: with the header's names classified
// (NameClass) it must leave the same header, and without them (the zero
// Names) it must be Sanitize.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{
		"Host: a\nAccept: */*",
		"Connection: close",
		"Connection: keep-alive, X-Secret\nX-Secret: 1\nx-secret: 2",
		"Upgrade: websocket\nConnection: Upgrade\nSec-Websocket-Key: k",
		"Upgrade: h2c\nConnection: Upgrade, HTTP2-Settings\nHttp2-Settings: AAA",
		"Http2-Settings: AAA",
		"Upgrade: h2c",
		"connection: x-a\nX-A: 1",
		"X_User: a\nProxy: p\nX-Forwarded-For: 1.2.3.4\nConnection: X-Real-Ip\nX-Real-Ip: 2",
		"Connection: , ,\nConnection: te\nTe: trailers",
		"Accept: */*\nUser-Agent: x",
		"X-Forwarded-For: 1.2.3.4\nAccept: */*",
		"x-real-ip: 2\nproxy: p",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, forwarding bool) {
		want, got := headerOf(in), headerOf(in)
		ScrubHeaders(want, forwarding)
		StripUpgrade(want)
		DropConnectionListed(want)
		Sanitize(got, forwarding)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Sanitize(%q, %v) differs from the three calls (-want +got):\n%s", in, forwarding, diff)
		}
		names := NamesKnown
		for k := range headerOf(in) {
			names |= NameClass(k)
		}
		for _, n := range []Names{names, 0} {
			h := headerOf(in)
			SanitizeNames(h, forwarding, n)
			if diff := cmp.Diff(want, h); diff != "" {
				t.Fatalf("SanitizeNames(%q, %v, %08b) differs from Sanitize (-want +got):\n%s", in, forwarding, n, diff)
			}
		}
	})
}

func TestNameClass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want Names
	}{
		{"Accept", 0},
		{"User-Agent", 0},
		{"X-Api-Key", 0},
		{"X-Forwarded", 0},   // the prefix alone is not a forwarding field
		{"Forwarded-For", 0}, // nor is a longer Forwarded
		{"Connections", 0},
		{"X_Api_Key", namesDrop},
		{"X.Consumer.Id", namesDrop},
		{"Proxy", namesDrop},
		{"PROXY", namesDrop},
		{"X-Forwarded-For", namesForwarding},
		{"x-forwarded-anything", namesForwarding},
		{"X-Real-Ip", namesForwarding},
		{"Forwarded", namesForwarding},
		{"Cf-Connecting-Ip", namesForwarding},
		{"True-Client-Ip", namesForwarding},
		{"X-Forwarded_For", namesDrop}, // not plain: deleted whoever sent it
		{"Connection", namesHop},
		{"Upgrade", namesHop},
		{"Http2-Settings", namesHop},
	} {
		if got := NameClass(tc.name); got != tc.want {
			t.Errorf("NameClass(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// oldForwardingName is the rule as it read before forwardingName took
// bytes: strings.EqualFold. FuzzCanonicalizeName holds the two equal.
func oldForwardingName(k string) bool {
	fold := func(k, name string) bool { return len(k) == len(name) && strings.EqualFold(k, name) }
	if len(k) < len("Client-Ip") {
		return false
	}
	switch k[0] | 0x20 {
	case 'x':
		const xf = "X-Forwarded-"
		if len(k) > len(xf) && strings.EqualFold(k[:len(xf)], xf) {
			return true
		}
		return fold(k, "X-Real-Ip") || fold(k, "X-Original-Forwarded-For") ||
			fold(k, "X-Original-Url") || fold(k, "X-Rewrite-Url") ||
			fold(k, "X-Client-Ip") || fold(k, "X-Cluster-Client-Ip")
	case 'f':
		return fold(k, "Forwarded") || fold(k, "Fastly-Client-Ip")
	case 'c':
		return fold(k, "Client-Ip") || fold(k, "Cf-Connecting-Ip")
	case 't':
		return fold(k, "True-Client-Ip")
	}
	return false
}

// FuzzCanonicalizeName holds CanonicalizeName to what it stands for: a
// token check (ValidFieldName), net/http's canonical form, and NameClass
// of the result; and the byte-taking forwardingName to its old rule on
// any input, names that are not ASCII included.
func FuzzCanonicalizeName(f *testing.F) {
	for _, s := range []string{"accept", "X-API-KEY", "x-forwarded-for", "X-Forwarded-", "proxy", "connection",
		"UPGRADE", "http2-settings", "x_api_key", "a b", "", "X-Real-\u212ap", "Fastly-Client-Ip", "x.forwarded.for",
		"Te", "-x-", "X--A", "1abc", "\x80", "cf-connecting-ip", "TRUE-CLIENT-IP", "X-Forwarded-\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := forwardingName(s), oldForwardingName(s); got != want {
			t.Fatalf("forwardingName(%q) = %v, the old rule %v", s, got, want)
		}
		if got, want := forwardingName([]byte(s)), oldForwardingName(s); got != want {
			t.Fatalf("forwardingName([]byte(%q)) = %v, the old rule %v", s, got, want)
		}
		b := []byte(s)
		class, ok := CanonicalizeName(b)
		if ok != ValidFieldName(s) {
			t.Fatalf("CanonicalizeName(%q) ok = %v, ValidFieldName %v", s, ok, !ok)
		}
		if !ok {
			return
		}
		if got, want := string(b), http.CanonicalHeaderKey(s); got != want {
			t.Fatalf("CanonicalizeName(%q) made %q, net/http %q", s, got, want)
		}
		if want := NameClass(string(b)); class != want {
			t.Fatalf("CanonicalizeName(%q) class %v, NameClass %v", s, class, want)
		}
	})
}

// headerOf builds the fuzz targets' header from in: one field a line,
// "name: value", the names taken as they are (a map key need not be
// canonical, nor even a token).
func headerOf(in string) http.Header {
	h := http.Header{}
	for line := range strings.SplitSeq(in, "\n") {
		k, v, _ := strings.Cut(line, ":")
		h[k] = append(h[k], strings.TrimSpace(v))
	}
	return h
}
