package wire

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseCanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		status int
		text   string
		ok     bool
	}{
		{name: "400", in: "HTTP/1.1 400 Bad Request" + cannedHeaders + "400 Bad Request", status: 400, ok: true},
		{name: "400 with text", in: "HTTP/1.1 400 Bad Request: invalid header name" + cannedHeaders + "400 Bad Request: invalid header name", status: 400, text: "invalid header name", ok: true},
		{name: "431", in: "HTTP/1.1 431 Request Header Fields Too Large" + cannedHeaders + "431 Request Header Fields Too Large", status: 431, ok: true},
		{name: "501", in: "HTTP/1.1 501 Not Implemented" + cannedHeaders + "Unsupported transfer encoding", status: 501, text: "unsupported transfer encoding", ok: true},
		{name: "505", in: "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + cannedHeaders + "505 HTTP Version Not Supported: unsupported protocol version", status: 505, text: "unsupported protocol version", ok: true},
		{name: "body differs", in: "HTTP/1.1 400 Bad Request" + cannedHeaders + "400 Bad Request and more"},
		{name: "more headers", in: "HTTP/1.1 400 Bad Request\r\nX-Request-Id: 1" + cannedHeaders + "400 Bad Request"},
		{name: "a response", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "2xx in canned shape", in: "HTTP/1.1 200 OK" + cannedHeaders + "200 OK"},
		{name: "wrong reason", in: "HTTP/1.1 400 Nope" + cannedHeaders + "400 Nope"},
		{name: "short", in: "HTTP/1.1 4"},
		{name: "chunk", in: "5\r\nhello\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, text, ok := parseCanned([]byte(tt.in))
			if status != tt.status || text != tt.text || ok != tt.ok {
				t.Errorf("parseCanned(%q) = %d, %q, %v; want %d, %q, %v", tt.in, status, text, ok, tt.status, tt.text, tt.ok)
			}
		})
	}
}

// TestCannedAnswersAreJSON runs net/http's server on a wrapped listener and
// checks what clients read: its own error answers become the contract's
// JSON, and a handler's response that looks like one is left alone.
func TestCannedAnswersAreJSON(t *testing.T) {
	t.Parallel()
	canned := "HTTP/1.1 400 Bad Request" + cannedHeaders + "400 Bad Request"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := Check(r); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			if r.URL.Path != "/lookalike" {
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusOK)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(canned)))
			w.WriteHeader(http.StatusOK)
			{
				// Flush the header so the body goes in writes of its own.
				w.(http.Flusher).Flush()
				io.WriteString(w, canned)
				w.(http.Flusher).Flush()
			}
		}),
		ConnContext:    ConnContext,
		ConnState:      ConnState,
		MaxHeaderBytes: 1024,
	}
	go srv.Serve(NewListener(ln))
	t.Cleanup(func() { srv.Close() })

	tests := []struct {
		name    string
		payload string
		status  []int
		code    string // the last answer's error code, "" for none
	}{
		{name: "malformed request line", payload: "GET /\r\n\r\n", status: []int{400}, code: "bad_request"},
		{name: "invalid header name", payload: "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", status: []int{400}, code: "bad_request"},
		{name: "missing Host", payload: "GET / HTTP/1.1\r\n\r\n", status: []int{400}, code: "bad_request"},
		{name: "header too large", payload: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8192) + "\r\n\r\n", status: []int{431}, code: "header_too_large"},
		{name: "unknown transfer coding", payload: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", status: []int{501}, code: "not_implemented"},
		{name: "after a good request", payload: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", status: []int{200, 400}, code: "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resps, bodies := exchange(t, ln.Addr().String(), tt.payload)
			if len(resps) != len(tt.status) {
				t.Fatalf("%d answers (%q), want %d", len(resps), bodies, len(tt.status))
			}
			for i, want := range tt.status {
				if resps[i].StatusCode != want {
					t.Fatalf("answer %d: status %d, want %d", i, resps[i].StatusCode, want)
				}
			}
			last := resps[len(resps)-1]
			if ct := last.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json (body %q)", ct, bodies[len(bodies)-1])
			}
			var e struct {
				Status    int    `json:"status"`
				Error     string `json:"error"`
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(bodies[len(bodies)-1]), &e); err != nil {
				t.Fatal(err)
			}
			if e.Status != last.StatusCode || e.Error != tt.code || e.Message == "" || e.RequestID == "" || last.Header.Get("X-Request-Id") != e.RequestID || !last.Close {
				t.Fatalf("answer %+v, header %v", e, last.Header)
			}
		})
	}
	t.Run("a response body that looks like an answer", func(t *testing.T) {
		t.Parallel()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /lookalike HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(c)
		if !strings.HasSuffix(string(b), "\r\n\r\n"+canned) {
			t.Fatalf("response %q does not carry the handler's body unchanged", b)
		}
	})
}

// exchange writes payload on a new connection and reads every answer.
func exchange(t *testing.T, addr, payload string) ([]*http.Response, []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, payload)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return resps, bodies
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		resps = append(resps, res)
		bodies = append(bodies, string(b))
		if res.Close {
			return resps, bodies
		}
	}
}
