package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// client does not follow redirects and does not pool across tests.
var client = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) seen(t *testing.T) testkit.Seen {
	t.Helper()
	return testkit.DecodeSeen(t, r.Body)
}

// gatewayError is the contract's error body.
type gatewayError struct {
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (r response) gwError(t *testing.T) gatewayError {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q, want application/json (body %q)", ct, r.Body)
	}
	var e gatewayError
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	if e.Status != r.Status || e.Error == "" || e.Message == "" || e.RequestID == "" {
		t.Fatalf("error body %+v incomplete for status %d", e, r.Status)
	}
	return e
}

// do sends a request; headers are "Name: value" strings, "Host: x" sets Host.
func do(t *testing.T, method, url string, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		v = strings.TrimSpace(v)
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func get(t *testing.T, url string, headers ...string) response {
	t.Helper()
	return do(t, http.MethodGet, url, "", headers...)
}

// rawUpstream is an upstream written at the byte level: it listens on a
// free loopback port and hands each connection to serve on a goroutine of
// its own, closing the connection when serve returns. The listener closes
// at the test's end, which waits for every serve to return. It returns the
// upstream's http:// URL.
func rawUpstream(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// base is the minimal config around the given sections; both listeners bind
// free loopback ports.
func base(sections string) string { return baseWith("", sections) }

// baseWith is base with extra lines (indented two spaces) in the server section.
func baseWith(server, sections string) string {
	return fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
%s
%s`, server, sections)
}

// containsLine reports whether text has line as one whole line.
func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
