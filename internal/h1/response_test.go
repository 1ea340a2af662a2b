package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/wire"
)

func TestResponseContentLength(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":42}`)
	})
	tr := newTransport(t, nil)
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL+"/v1/orders/42", ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	if res.StatusCode != 200 || res.ContentLength != 9 || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Send() = %d, length %d, Content-Type %q; want 200, 9, application/json", res.StatusCode, res.ContentLength, res.Header.Get("Content-Type"))
	}
	if n := tr.IdleConns(); n != 0 {
		t.Errorf("IdleConns() = %d before the body was read, want 0", n)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil || string(b) != `{"id":42}` {
		t.Errorf("body = %q, %v; want {\"id\":42}", b, err)
	}
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d after the body's end, want 1", n)
	}
	res.Body.Close()
}

func TestResponseChunkedTrailers(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		io.WriteString(w, "second")
		w.Header().Set("X-Checksum", "sha256=abc")
	})
	tr := newTransport(t, nil)
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL, ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	defer res.Body.Close()
	if !cmp.Equal(res.TransferEncoding, []string{"chunked"}) || res.ContentLength != -1 {
		t.Errorf("TransferEncoding, ContentLength = %v, %d; want [chunked], -1", res.TransferEncoding, res.ContentLength)
	}
	if v, ok := res.Trailer["X-Checksum"]; !ok || v != nil {
		t.Errorf("Trailer before the end = %v, want X-Checksum announced without value", res.Trailer)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil || string(b) != "first,second" {
		t.Errorf("body = %q, %v; want first,second", b, err)
	}
	if got := res.Trailer.Get("X-Checksum"); got != "sha256=abc" {
		t.Errorf("Trailer X-Checksum after the end = %q, want sha256=abc", got)
	}
	if n := tr.IdleConns(); n != 1 {
		t.Errorf("IdleConns() = %d, want 1", n)
	}
}

func TestResponseCloseDelimited(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: one\n\n")
		io.WriteString(c, "data: two\n\n")
	})
	tr := newTransport(t, nil)
	for range 2 {
		res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.url()+"/events", ""), nil)
		if err != nil {
			t.Fatalf("Send() error: %v", err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(b) != "data: one\n\ndata: two\n\n" {
			t.Errorf("body = %q, %v; want both events", b, err)
		}
		if res.ContentLength != -1 || !res.Close {
			t.Errorf("ContentLength, Close = %d, %v; want -1, true", res.ContentLength, res.Close)
		}
		if n := tr.IdleConns(); n != 0 {
			t.Errorf("IdleConns() = %d after a body ended by close, want 0", n)
		}
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

// TestResponseWithoutBody checks answers that have no body whatever their
// header says: they free the connection as soon as they are returned.
func TestResponseWithoutBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		status int
	}{
		{"HEAD", http.MethodHead, http.StatusOK},
		{"204", http.MethodDelete, http.StatusNoContent},
		{"304", http.MethodGet, http.StatusNotModified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000")
				w.Header().Set("ETag", `"v7"`)
				w.WriteHeader(tt.status)
			})
			tr := newTransport(t, nil)
			for i := range 3 {
				res, err := tr.Send(context.Background(), newRequest(t, tt.method, srv.URL+"/v1/orders/42", ""), nil)
				if err != nil {
					t.Fatalf("Send() error: %v", err)
				}
				if res.StatusCode != tt.status || res.Header.Get("ETag") != `"v7"` {
					t.Errorf("Send() = %d, ETag %q; want %d, \"v7\"", res.StatusCode, res.Header.Get("ETag"), tt.status)
				}
				if n := tr.IdleConns(); n != 1 {
					t.Errorf("request %d: IdleConns() = %d before the body was touched, want 1", i, n)
				}
				b, err := io.ReadAll(res.Body)
				if err != nil || len(b) != 0 {
					t.Errorf("body = %q, %v; want empty", b, err)
				}
				res.Body.Close()
			}
			if n := srv.conns.Load(); n != 1 {
				t.Errorf("server accepted %d connections for 3 requests, want 1", n)
			}
		})
	}
}

// informed records informational answers.
type informed struct {
	mu    sync.Mutex
	codes []int
	links []string
	err   error
}

func (in *informed) Informational(code int, h http.Header) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.codes = append(in.codes, code)
	in.links = append(in.links, h.Get("Link"))
	return in.err
}

func earlyHints(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Link", "</app.css>; rel=preload; as=style")
	w.WriteHeader(http.StatusEarlyHints)
	w.Header().Set("Link", "</app.js>; rel=preload; as=script")
	w.WriteHeader(http.StatusEarlyHints)
	w.Header().Del("Link")
	io.WriteString(w, "<html></html>")
}

func TestEarlyHintsSend(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, earlyHints)
	tr := newTransport(t, nil)
	var in informed
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL, ""), &in)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "<html></html>" || res.Header.Get("Link") != "" {
		t.Errorf("Send() = %d %q, Link %q; want 200 <html></html> and no Link", res.StatusCode, b, res.Header.Get("Link"))
	}
	want := informed{codes: []int{103, 103}, links: []string{"</app.css>; rel=preload; as=style", "</app.js>; rel=preload; as=script"}}
	if diff := cmp.Diff(want.codes, in.codes); diff != "" {
		t.Errorf("informational codes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.links, in.links); diff != "" {
		t.Errorf("informational Link headers (-want +got):\n%s", diff)
	}
	// Without an Informer they are skipped.
	if code, body := fetch(t, tr, newRequest(t, "GET", srv.URL, "")); code != 200 || body != "<html></html>" {
		t.Errorf("Send(nil Informer) = %d %q, want 200 <html></html>", code, body)
	}
}

func TestEarlyHintsRoundTrip(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, earlyHints)
	tr := newTransport(t, nil)
	var links []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code != http.StatusEarlyHints {
			t.Errorf("Got1xxResponse(%d), want 103", code)
		}
		links = append(links, h.Get("Link"))
		return nil
	}}
	req := newRequest(t, "GET", srv.URL, "")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip() error: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if len(links) != 2 || links[1] != "</app.js>; rel=preload; as=script" {
		t.Errorf("Got1xxResponse saw Link %q, want both hints", links)
	}
}

func TestInformerError(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, earlyHints)
	tr := newTransport(t, nil)
	errStop := errors.New("client went away")
	in := &informed{err: errStop}
	if _, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL, ""), in); !errors.Is(err, errStop) {
		t.Errorf("Send() error = %v, want the Informer's", err)
	}
	if n := tr.IdleConns(); n != 0 {
		t.Errorf("IdleConns() = %d, want 0", n)
	}
}

func TestInformationalAnswers(t *testing.T) {
	t.Parallel()
	const final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	hint := "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"
	tests := []struct {
		name    string
		answer  string
		wantErr bool
		codes   int
	}{
		{"one hint", hint + final, false, 1},
		{"five hints", strings.Repeat(hint, 5) + final, false, 5},
		{"six hints", strings.Repeat(hint, 6) + final, true, 5},
		{"unasked 100 Continue", "HTTP/1.1 100 Continue\r\n\r\n" + final, false, 1},
		{"101 without upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", true, 0},
		{"101 after a hint", hint + "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(c, tt.answer)
				drain(c)
			})
			tr := newTransport(t, nil)
			var in informed
			res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.url(), ""), &in)
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(b) != "ok" {
					t.Errorf("Send() = %d %q, want 200 ok", res.StatusCode, b)
				}
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("Send() error = %v, want error %v", err, tt.wantErr)
			}
			if len(in.codes) != tt.codes {
				t.Errorf("Informer saw %v, want %d answers", in.codes, tt.codes)
			}
		})
	}
}

func TestResponseHeaderLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		limit   int64
		size    int
		wantErr bool
	}{
		{"within", 1 << 10, 600, false},
		{"over", 1 << 10, 2000, true},
		{"far over", 1 << 10, 64 << 10, true},
		// A line longer than the read buffer, within the default limit.
		{"long line", 0, 10 << 10, false},
		{"over the default", 0, defaultMaxHeaderBytes + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Padding: "+strings.Repeat("p", tt.size)+"\r\nContent-Length: 2\r\n\r\nok")
				drain(c)
			})
			tr := newTransport(t, &Transport{MaxResponseHeaderBytes: tt.limit})
			res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.url(), ""), nil)
			if tt.wantErr {
				if err == nil {
					res.Body.Close()
					t.Fatal("Send() succeeded, want an error")
				}
				if !strings.Contains(err.Error(), "larger than") {
					t.Errorf("Send() error = %v, want one about the header size", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send() error: %v", err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != "ok" || len(res.Header.Get("X-Padding")) != tt.size {
				t.Errorf("Send() body %q, padding %d; want ok, %d", b, len(res.Header.Get("X-Padding")), tt.size)
			}
		})
	}
}

// TestTrailerLimit checks that the trailer is bounded like the header.
func TestTrailerLimit(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Padding: "+
		strings.Repeat("p", 64<<10)+"\r\n\r\n"))
	tr := newTransport(t, &Transport{MaxResponseHeaderBytes: 1 << 10})
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.url(), ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	defer res.Body.Close()
	if b, err := io.ReadAll(res.Body); err == nil {
		t.Errorf("body = %q, trailer of %d bytes; want an error", b, len(res.Trailer.Get("X-Padding")))
	}
	if n := tr.IdleConns(); n != 0 {
		t.Errorf("IdleConns() = %d, want 0", n)
	}
}

// TestResponseHeaderParsing checks header details against what
// ReadResponse makes of the same answer.
func TestResponseHeaderParsing(t *testing.T) {
	t.Parallel()
	const answer = "HTTP/1.1 201 Created\r\n" +
		"content-type: application/json\r\n" +
		"x-request-id:   abc123 \t\r\n" +
		"Set-Cookie: a=1\r\n" +
		"set-cookie: b=2\r\n" +
		"X-Empty:\r\n" +
		"X-Obs-Text: caf\xc3\xa9\r\n" +
		"Content-Length: 2\r\n\r\nok"
	srv := newRawServer(t, answerEach(answer))
	tr := newTransport(t, nil)
	res, err := tr.Send(context.Background(), newRequest(t, "POST", srv.url(), ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil)
	if err != nil {
		t.Fatalf("ReadResponse() error: %v", err)
	}
	if res.Status != want.Status || res.StatusCode != 201 || res.Proto != "HTTP/1.1" || res.ContentLength != 2 {
		t.Errorf("Send() = %q %s length %d, want %q HTTP/1.1 length 2", res.Status, res.Proto, res.ContentLength, want.Status)
	}
	if diff := cmp.Diff(want.Header, res.Header); diff != "" {
		t.Errorf("header (-ReadResponse +Send):\n%s", diff)
	}
	// Values must not share storage a later append could overwrite.
	res.Header["Set-Cookie"] = append(res.Header["Set-Cookie"], "c=3")
	if got := res.Header.Get("X-Empty"); got != "" {
		t.Errorf("X-Empty = %q after an append to Set-Cookie", got)
	}
}

// TestBytesPastResponse checks that a connection whose upstream sent more
// than the framing said is not reused: the extra bytes would be read as the
// next answer.
func TestBytesPastResponse(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"))
	tr := newTransport(t, nil)
	for range 2 {
		if code, body := fetch(t, tr, newRequest(t, "GET", srv.url(), "")); code != 200 || body != "ok" {
			t.Errorf("fetch() = %d %q, want 200 ok", code, body)
		}
		if n := tr.IdleConns(); n != 0 {
			t.Errorf("IdleConns() = %d, want 0", n)
		}
	}
}

func TestBodyAfterEnd(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	tr := newTransport(t, nil)
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL, ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	if b, err := io.ReadAll(res.Body); err != nil || string(b) != "hello" {
		t.Fatalf("body = %q, %v; want hello", b, err)
	}
	buf := make([]byte, 8)
	for i := range 2 {
		if n, err := res.Body.Read(buf); n != 0 || err != io.EOF {
			t.Errorf("Read %d after the end = %d, %v; want 0, EOF", i, n, err)
		}
	}
	if err := res.Body.Close(); err != nil {
		t.Errorf("Close() after the end = %v, want nil", err)
	}
	if n, err := res.Body.Read(buf); n != 0 || err == nil || err == io.EOF {
		t.Errorf("Read after Close = %d, %v; want 0 and a closed-body error", n, err)
	}
	if err := res.Body.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	// The connection went back on EOF; the calls above must not have
	// touched it.
	if code, body := fetch(t, tr, newRequest(t, "GET", srv.URL, "")); code != 200 || body != "hello" {
		t.Errorf("next fetch() = %d %q, want 200 hello", code, body)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

func TestBodyClosedEarly(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("0123456789", 10<<10))
	})
	tr := newTransport(t, nil)
	res, err := tr.Send(context.Background(), newRequest(t, "GET", srv.URL, ""), nil)
	if err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatalf("ReadFull() error: %v", err)
	}
	if err := res.Body.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if n, err := res.Body.Read(buf); n != 0 || err == nil || err == io.EOF {
		t.Errorf("Read after Close = %d, %v; want 0 and a closed-body error", n, err)
	}
	if n := tr.IdleConns(); n != 0 {
		t.Errorf("IdleConns() = %d after an early Close, want 0", n)
	}
	srv.waitClosed(t, 1)
	fetch(t, tr, newRequest(t, "GET", srv.URL, ""))
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

// FuzzResponseFields holds readHeader's record of the fields frame reads
// to the header it builds: a bit is set exactly when its field is in the
// map, whatever the case or number of the lines that carry it.
func FuzzResponseFields(f *testing.F) {
	for _, s := range []string{
		"Content-Length: 5\r\n\r\n",
		"content-length: 5\r\nCONTENT-LENGTH: 5\r\nConnection: close\r\n\r\n",
		"Transfer-Encoding: chunked\r\ntrailer: X-A\r\n\r\n",
		"X-Connection: close\r\nContent-Length-X: 1\r\nTrailers: 1\r\n\r\n",
		"\r\n",
	} {
		f.Add(s)
	}
	names := map[string]fields{
		"Connection": hasConnection, "Transfer-Encoding": hasTransferEncoding,
		"Content-Length": hasContentLength, "Trailer": hasTrailer,
	}
	f.Fuzz(func(t *testing.T, data string) {
		c := &conn{br: bufio.NewReader(strings.NewReader(data)), limit: -1}
		h, fs, err := c.readHeader(false, nil)
		if err != nil {
			return
		}
		var want fields
		for name, bit := range names {
			if _, ok := h[name]; ok {
				want |= bit
			}
		}
		if fs != want {
			t.Fatalf("readHeader(%q) recorded fields %04b, its header holds %04b", data, fs, want)
		}
	})
}

// Repeated names join one key's values in order, in an answer of a few
// lines (found among the names before) and in a longer one (looked up).
func TestResponseRepeatedNames(t *testing.T) {
	for _, n := range []int{3, smallHeader - 1, smallHeader, smallHeader + 5} {
		var b strings.Builder
		b.WriteString("X-Rep: first\r\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "X-F%d: %d\r\n", i, i)
		}
		b.WriteString("x-rep: second\r\n\r\n")
		c := &conn{br: bufio.NewReader(strings.NewReader(b.String())), limit: -1}
		h, _, err := c.readHeader(false, nil)
		if err != nil {
			t.Fatalf("%d lines: %v", n, err)
		}
		if got := h["X-Rep"]; !slices.Equal(got, []string{"first", "second"}) {
			t.Errorf("%d lines: X-Rep = %q, want both values in order", n, got)
		}
		if len(h) != n+1 {
			t.Errorf("%d lines: %d keys, want %d", n, len(h), n+1)
		}
	}
}

// TestResponseList: an answer whose framing reads at most one
// Content-Length comes as a list when asked, its fields in order; any
// other comes as a map, as it does unasked.
func TestResponseList(t *testing.T) {
	tests := []struct {
		name   string
		header string
		list   []string // nil: a map
		length int64
	}{
		{"length", "Content-Type: a/b\r\ncontent-length: 5\r\nX-A: 1\r\nx-a: 2\r\n", []string{"Content-Type", "a/b", "Content-Length", "5", "X-A", "1", "X-A", "2"}, 5},
		{"no framing field", "X-A: 1\r\n", []string{"X-A", "1"}, -1},
		{"no field", "", []string{}, -1},
		{"two lengths", "Content-Length: 5\r\nContent-Length: 5\r\n", nil, 5},
		{"connection", "Connection: keep-alive\r\nContent-Length: 5\r\n", nil, 5},
		{"chunked", "Transfer-Encoding: chunked\r\n", nil, -1},
		{"trailer", "Trailer: X-A\r\nContent-Length: 5\r\n", nil, 5},
		{"many fields", strings.Repeat("X-A: 1\r\n", 20) + "Content-Length: 5\r\n", append(slices.Repeat([]string{"X-A", "1"}, 20), "Content-Length", "5"), 5},
	}
	for _, tt := range tests {
		data := "HTTP/1.1 200 OK\r\n" + tt.header + "\r\nhello"
		c := &conn{br: bufio.NewReader(strings.NewReader(data)), limit: -1}
		req := &http.Request{Method: http.MethodGet}
		res, list, err := c.readResponse(req, new(answer), true)
		if err != nil {
			t.Fatalf("%s: readResponse: %v", tt.name, err)
		}
		if res.ContentLength != tt.length {
			t.Errorf("%s: ContentLength = %d, want %d", tt.name, res.ContentLength, tt.length)
		}
		if tt.list == nil {
			if list != nil || res.Header == nil {
				t.Errorf("%s: list %q, header %v; want a map", tt.name, list, res.Header)
			}
			continue
		}
		if res.Header != nil || !slices.Equal(list, tt.list) || list == nil {
			t.Errorf("%s: list %q, header %v; want list %q", tt.name, list, res.Header, tt.list)
		}
		// Unasked, the same answer comes as a map.
		c = &conn{br: bufio.NewReader(strings.NewReader(data)), limit: -1}
		if res, list, err = c.readResponse(req, new(answer), false); err != nil || list != nil || res.Header == nil {
			t.Errorf("%s: unasked: list %q, header %v, %v; want a map", tt.name, list, res.Header, err)
		}
	}
	// An informational answer comes as a map, for the Informer.
	c := &conn{br: bufio.NewReader(strings.NewReader("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")), limit: -1}
	res, list, err := c.readResponse(&http.Request{Method: http.MethodGet}, new(answer), true)
	if err != nil || list != nil || res.Header["Link"] == nil {
		t.Errorf("103: list %q, header %v, %v; want a map", list, res.Header, err)
	}
}

// TestSharedOutbound: sends that share an Outbound without List leave it
// as it is (the race detector sees any write), and one with List gets its
// own answer's list.
func TestSharedOutbound(t *testing.T) {
	srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-B: 2\r\n\r\nok"))
	tr := newTransport(t, nil)
	shared := &Outbound{Extra: []wire.Field{{Name: "X-A", Value: "1"}}}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				res, err := tr.SendOutbound(context.Background(), newRequest(t, "GET", srv.url(), ""), shared, nil)
				if err != nil {
					t.Errorf("SendOutbound: %v", err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.Header == nil {
					t.Errorf("an Outbound without List got no header map")
				}
			}
		})
	}
	wg.Wait()
	if shared.Answer != nil {
		t.Errorf("an Outbound without List was given a list: %q", shared.Answer)
	}
	own := &Outbound{List: true}
	res, err := tr.SendOutbound(context.Background(), newRequest(t, "GET", srv.url(), ""), own, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := []string{"Content-Length", "2", "X-B", "2"}; res.Header != nil || !slices.Equal(own.Answer, want) {
		t.Errorf("with List: header %v, list %q; want list %q", res.Header, own.Answer, want)
	}
}

func TestListValueAndHeader(t *testing.T) {
	list := []string{"Content-Type", "a/b", "X-A", "1", "Content-Type", "c/d", "X-A", "2"}
	if got := ListValue(list, "Content-Type"); got != "a/b" {
		t.Errorf("ListValue(Content-Type) = %q, want the first, a/b", got)
	}
	if got := ListValue(list, "Cache-Control"); got != "" {
		t.Errorf("ListValue(Cache-Control) = %q, want none", got)
	}
	want := http.Header{"Content-Type": {"a/b", "c/d"}, "X-A": {"1", "2"}}
	if got := ListHeader(list); !cmp.Equal(got, want) {
		t.Errorf("ListHeader = %v, want %v", got, want)
	}
	if got := ListHeader(nil); len(got) != 0 {
		t.Errorf("ListHeader(nil) = %v, want empty", got)
	}
	// Value reads the map when the answer has one, else the list.
	if got := Value(&http.Response{}, list, "Content-Type"); got != "a/b" {
		t.Errorf("Value of a list = %q, want a/b", got)
	}
	if got := Value(&http.Response{Header: http.Header{"Content-Type": {"e/f"}}}, list, "Content-Type"); got != "e/f" {
		t.Errorf("Value of a map = %q, want the map's e/f", got)
	}
}
