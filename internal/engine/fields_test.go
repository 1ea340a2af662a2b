package engine

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/wire"
)

// fieldsWriter is how a handler reaches WriteHeaderFields, as a proxy
// does: through an interface, not the engine's type.
type fieldsWriter interface {
	WriteHeaderFields(code int, fields []string)
}

// fieldsCase is one answer given both ways: with the map holding hdr and
// the list fields handed to WriteHeaderFields, and with the list's fields
// added to the map before WriteHeader.
type fieldsCase struct {
	name    string
	request string // the request line and header block; GET / by default
	method  string // of the request, for reading its answer
	code    int
	hdr     http.Header
	fields  []string
	body    string
	// trailer is set after the body, with http.TrailerPrefix keys.
	trailer map[string]string
	// interim is a 1xx answer given with the fields before the final one.
	interim int
}

// serveFields answers c on a fresh engine, with WriteHeaderFields when
// list is set, and returns the answer read off the wire.
func serveFields(t *testing.T, c fieldsCase, list bool) answer {
	t.Helper()
	a, err := serveFieldsErr(t, c, list)
	if err != nil {
		t.Fatalf("reading the answer (list %v): %v", list, err)
	}
	return a
}

// serveFieldsErr is serveFields with the read's error returned.
func serveFieldsErr(t *testing.T, c fieldsCase, list bool) (answer, error) {
	t.Helper()
	h := func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		for k, vv := range c.hdr {
			hd[k] = slices.Clone(vv)
		}
		fields := slices.Clone(c.fields)
		if c.interim != 0 {
			saved := hd.Clone()
			if list {
				w.(fieldsWriter).WriteHeaderFields(c.interim, fields)
			} else {
				addFields(hd, fields)
				w.WriteHeader(c.interim)
			}
			clear(hd)
			maps.Copy(hd, saved)
		}
		if list {
			w.(fieldsWriter).WriteHeaderFields(c.code, fields)
			// The list is the caller's again: the answer must not
			// depend on what it holds now.
			for i := range fields {
				fields[i] = "Scribbled"
			}
		} else {
			addFields(hd, fields)
			w.WriteHeader(c.code)
		}
		io.WriteString(w, c.body)
		for k, v := range c.trailer {
			hd[http.TrailerPrefix+k] = []string{v}
		}
	}
	addr := startEngine(t, &Server{Handler: http.HandlerFunc(h)})
	cl := dial(t, addr)
	req := c.request
	if req == "" {
		req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	}
	cl.send(req)
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	return cl.read(method)
}

// addFields adds a list's fields to h as a map holds them.
func addFields(h http.Header, fields []string) {
	for i := 0; i+1 < len(fields); i += 2 {
		h[fields[i]] = append(h[fields[i]], fields[i+1])
	}
}

// TestWriteHeaderFields: an answer whose header comes partly as a list is
// the answer the same fields make in the map: status, every field and its
// values in order, framing, whether the connection ends, body and
// trailers. Date is compared by presence (the clock may turn between the
// two answers).
func TestWriteHeaderFields(t *testing.T) {
	id := http.Header{"X-Request-Id": {"r-1"}}
	cases := []fieldsCase{
		{name: "plain", code: 200, hdr: id, fields: []string{"Content-Type", "application/json", "Content-Length", "5"}, body: "hello"},
		{name: "empty list", code: 200, hdr: id, body: "hello"},
		{name: "no map", code: 201, fields: []string{"Content-Length", "5", "X-Up", "1"}, body: "hello"},
		{name: "sniffed type", code: 200, fields: []string{"X-Up", "1"}, body: "<html><body>hi</body></html>"},
		{name: "upstream date", code: 200, fields: []string{"Date", "Mon, 07 Dec 2026 06:00:00 GMT", "Content-Length", "2"}, body: "ok"},
		{name: "map length first", code: 200, hdr: http.Header{"Content-Length": {"2"}}, fields: []string{"Content-Length", "2"}, body: "ok"},
		{name: "repeated names", code: 200, hdr: http.Header{"Set-Cookie": {"m=1"}}, fields: []string{"Set-Cookie", "a=1", "X-Up", "1", "Set-Cookie", "b=2"}, body: "ok"},
		{name: "connection close", code: 200, fields: []string{"Connection", "close", "Content-Length", "2"}, body: "ok"},
		{name: "identity", code: 200, fields: []string{"Transfer-Encoding", "identity"}, body: "ok"},
		{name: "chunked by the handler", code: 200, fields: []string{"Transfer-Encoding", "chunked"}, body: "ok"},
		{name: "no length, flushed whole", code: 200, fields: []string{"Content-Type", "text/plain"}, body: strings.Repeat("x", 3*bufSize)},
		{name: "head", request: "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", method: http.MethodHead, code: 200, fields: []string{"Content-Length", "100", "Content-Type", "text/plain"}},
		{name: "no content", code: 204, fields: []string{"Content-Length", "0", "X-Up", "1"}},
		{name: "not modified", code: 304, fields: []string{"Etag", `"v1"`, "Content-Length", "10"}},
		{name: "not a token", code: 200, fields: []string{"Bad Name", "x", "X-Ok", "1", "Content-Length", "2"}, body: "ok"},
		{name: "line break in value", code: 200, fields: []string{"X-Split", "a\r\nX-Injected: 1", "Content-Length", "2"}, body: "ok"},
		{name: "trailers declared", code: 200, fields: []string{"Trailer", "X-Sum"}, body: "ok", trailer: map[string]string{"X-Sum": "9"}},
		{name: "trailer keys only", code: 200, fields: []string{"X-Up", "1"}, body: "ok", trailer: map[string]string{"X-Late": "1"}},
		{name: "odd list", code: 200, fields: []string{"X-Up", "1", "X-Dangling"}, body: "ok"},
		{name: "http/1.0 keep-alive", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", code: 200, fields: []string{"Content-Length", "2"}, body: "ok"},
		{name: "http/1.0 unknown length", request: "GET / HTTP/1.0\r\n\r\n", code: 200, fields: []string{"Content-Type", "text/plain"}, body: strings.Repeat("y", 3*bufSize)},
		{name: "request close", request: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", code: 200, fields: []string{"Content-Length", "2"}, body: "ok"},
		{name: "early hints", code: 200, interim: http.StatusEarlyHints, hdr: id, fields: []string{"Link", "</a.css>; rel=preload", "Content-Length", "2"}, body: "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, want := serveFields(t, c, true), serveFields(t, c, false)
			sameAnswer(t, got, want)
		})
	}
}

// sameAnswer fails t when got and want differ, Date's value aside.
func sameAnswer(t *testing.T, got, want answer) {
	t.Helper()
	gh, wh := got.header.Clone(), want.header.Clone()
	if (gh.Get("Date") == "") != (wh.Get("Date") == "") {
		t.Errorf("Date %q, want %q", gh.Get("Date"), wh.Get("Date"))
	}
	if _, upstream := wh["Date"]; upstream && !strings.HasPrefix(wh.Get("Date"), "Mon, 07 Dec 2026 06:00:00") {
		gh.Del("Date")
		wh.Del("Date")
	}
	if got.status != want.status || got.framing != want.framing || got.close != want.close || got.body != want.body || got.proto != want.proto {
		t.Errorf("got %d %s framing %s close %v body %d bytes; want %d %s framing %s close %v body %d bytes",
			got.status, got.proto, got.framing, got.close, len(got.body), want.status, want.proto, want.framing, want.close, len(want.body))
	}
	if !headersEqual(gh, wh) {
		t.Errorf("header\n got %q\nwant %q", gh, wh)
	}
	if !headersEqual(got.trailer, want.trailer) {
		t.Errorf("trailer\n got %q\nwant %q", got.trailer, want.trailer)
	}
}

func headersEqual(a, b http.Header) bool {
	return maps.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// FuzzWriteHeaderFields holds the list path to the map path for any list:
// lines "name: value" of the input, with names as a map key would be
// canonical or not, make the list and the map's additions alike.
func FuzzWriteHeaderFields(f *testing.F) {
	for _, s := range []string{
		"Content-Type: text/plain\nContent-Length: 2",
		"Connection: close\nX-A: 1",
		"Transfer-Encoding: identity",
		"Trailer: X-T\nDate: Mon, 07 Dec 2026 06:00:00 GMT",
		"Content-Length: 7\nContent-Length: 2",
		"Set-Cookie: a\nSet-Cookie: b\nX-Bad\x00: c",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, code uint8) {
		var fields []string
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			k, v, ok := bytes.Cut(line, []byte(": "))
			if !ok || len(k) == 0 {
				continue
			}
			fields = append(fields, http.CanonicalHeaderKey(string(k)), string(v))
		}
		status := []int{200, 201, 204, 304, 404, 500}[int(code)%6]
		c := fieldsCase{code: status, hdr: http.Header{"X-Request-Id": {"r"}}, fields: fields, body: "ok"}
		got, gerr := serveFieldsErr(t, c, true)
		want, werr := serveFieldsErr(t, c, false)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("fields %q: list read err %v, map read err %v", fields, gerr, werr)
		}
		if gerr == nil {
			sameAnswer(t, got, want)
		}
	})
}

// The OWS trim the parser uses (wire.TrimOWS) is strings.Trim with the
// cutset " \t".
func TestTrimOWS(t *testing.T) {
	for _, s := range []string{"", " ", "\t", " \t ", "a", " a", "a ", "\ta\t", " a b ", "\t \ta\t b\t \t", "\r a \r", "\u00a0a\u00a0"} {
		if got, want := wire.TrimOWS(s), strings.Trim(s, " \t"); got != want {
			t.Errorf("wire.TrimOWS(%q) = %q, want %q", s, got, want)
		}
	}
}
