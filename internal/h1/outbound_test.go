package h1_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
)

// FuzzOutboundHead holds the two ways the proxy's direct path builds an
// upstream request's header to one result: a header map filled by
// forward.CopyEndToEnd and forward.SetHeaders (used when header rules or
// trace context edit it), and the client's header sent through an
// Outbound that keeps forward.EndToEnd's fields and adds
// forward.ForwardFields. Both heads must carry the same lines (in any
// order: both come from maps) or both be refused.
func FuzzOutboundHead(f *testing.F) {
	f.Add("Connection: x-internal-hop, keep-alive\nX-Internal-Hop: drop me\nKeep-Alive: timeout=5\nTe: deflate, trailers\n"+
		"Proxy-Authorization: Basic dXNlcjpwYXNz\nProxy-Connection: keep-alive\nX-Real-Ip: 198.51.100.66\nX-Consumer-Id: admin\n"+
		"Forwarded: for=1.2.3.4\nX-Forwarded-For: 198.51.100.66\nX-Forwarded-Host: evil\nX-Forwarded-Proto: https\nAccept: */*", true, false, "req-1")
	f.Add("User-Agent: \nX-Request-Id: client-id\nConnection: close\nContent-Length: 5\nTrailer: X\nUpgrade: h2c", false, true, "")
	f.Add("x-consumer-groups: root\nX-Client-Cert-Subject: CN=evil\nCookie: a=1\nCookie: b=2\nTE: trailers", true, true, "id")
	f.Add("X-Request-Id: client-id\nAccept: */*", false, false, "gw-id")
	f.Add("Bad Name: v\nX-Ctl: a\x01b", false, false, "x")
	f.Add("Connection: X-Forwarded-Port, Te\nX-Forwarded-Port: 1\nTe: trailers", false, false, "x")
	f.Fuzz(func(t *testing.T, block string, consumer, secure bool, id string) {
		in := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/p"}, Host: "api.example.com", RemoteAddr: "192.0.2.7:5555", Header: http.Header{}}
		for line := range strings.SplitSeq(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			in.Header[k] = append(in.Header[k], strings.TrimSpace(v))
		}
		x := &pipeline.Exchange{ID: id, TLS: secure}
		if consumer {
			x.Consumer = &pipeline.Consumer{ID: "acme", Groups: []string{"a", "b"}}
		}
		out := func(h http.Header) *http.Request {
			return &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: "10.0.0.1:80", Path: "/p"}, Host: "10.0.0.1", Header: h}
		}

		hd := http.Header{}
		forward.CopyEndToEnd(hd, in.Header)
		forward.SetHeaders(hd, in, x, nil)
		want, werr := h1.AppendHead(nil, out(hd), nil)

		ob := &h1.Outbound{Keep: forward.EndToEnd, Extra: forward.ForwardFields(nil, in, x, nil)}
		got, gerr := h1.AppendHead(nil, out(in.Header), ob)

		if (gerr == nil) != (werr == nil) {
			t.Fatalf("outbound error %v, header map's %v", gerr, werr)
		}
		if gerr != nil {
			return
		}
		if g, w := headLines(string(got)), headLines(string(want)); !slices.Equal(g, w) {
			t.Fatalf("outbound head\n%q\nheader map's\n%q", g, w)
		}

		// The header map checked and written once (NewBlock) is the
		// same head, and Connection: close is added as for the map.
		blk, berr := h1.NewBlock(hd)
		if berr != nil {
			t.Fatalf("NewBlock error %v for a header the map path writes", berr)
		}
		for _, close := range []bool{false, true} {
			r := out(hd)
			r.Close = close
			want, werr := h1.AppendHead(nil, r, nil)
			got, gerr := h1.AppendHead(nil, r, &h1.Outbound{Block: &blk})
			if gerr != nil || werr != nil {
				t.Fatalf("block head error %v, header map's %v", gerr, werr)
			}
			if g, w := headLines(string(got)), headLines(string(want)); !slices.Equal(g, w) {
				t.Fatalf("block head (close %v)\n%q\nheader map's\n%q", close, g, w)
			}
		}
	})
}

// A Block refuses what the header map's path refuses, and an Outbound
// with a Block takes no other fields.
func TestBlock(t *testing.T) {
	for _, h := range []http.Header{
		{"Bad Name": {"v"}},
		{"X-Ctl": {"a\x01b"}},
		{"X-Split": {"a\r\nX-Injected: 1"}},
	} {
		if _, err := h1.NewBlock(h); err == nil {
			t.Errorf("NewBlock(%q) took it", h)
		}
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: "10.0.0.1:80", Path: "/p"}, Header: h}
		if _, err := h1.AppendHead(nil, r, nil); err == nil {
			t.Errorf("the header map's path took %q", h)
		}
	}
	blk, err := h1.NewBlock(http.Header{"Accept": {"application/json"}, "Host": {"evil"}, "Content-Length": {"9"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: "10.0.0.1:80", Path: "/p"}, Host: "up"}
	head, err := h1.AppendHead(nil, r, &h1.Outbound{Block: &blk})
	if err != nil {
		t.Fatal(err)
	}
	if want := "GET /p HTTP/1.1\r\nHost: up\r\nAccept: application/json\r\n\r\n"; string(head) != want {
		t.Errorf("head %q, want %q (the transport owns Host and the framing)", head, want)
	}
	if _, err := h1.AppendHead(nil, r, &h1.Outbound{Block: &blk, Extra: []wire.Field{{Name: "X-A", Value: "1"}}}); err == nil {
		t.Error("an Outbound with a Block and Extra fields was taken")
	}
}

// headLines returns the request line and the sorted field lines of head.
func headLines(head string) []string {
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	slices.Sort(lines[1:])
	return lines
}
