package conformance

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// misbehave is an upstream script keyed by path: it answers well except
// under /misbehave/, where it does what the path says.
func misbehave(r *upRequest) action {
	switch r.URI {
	case "/misbehave/extra":
		// A second, unsolicited response right after the first.
		return action{bytes: answerWith(r, 200, poison)}
	case "/misbehave/extra-late":
		// The same, in a segment of its own that arrives while the
		// connection is idle in the gateway's pool.
		return action{bytes: answer(r), later: []byte(poison), pause: 10 * time.Millisecond}
	case "/misbehave/head-body-late":
		get := *r
		get.Method = http.MethodGet
		full := answerWith(&get, 200, "")
		head := answer(r)
		return action{bytes: head, later: full[len(head):], pause: 10 * time.Millisecond}
	case "/misbehave/204-body-late":
		return action{bytes: answerWith(r, 204, ""), later: []byte(poison), pause: 10 * time.Millisecond}
	case "/misbehave/extra-garbage":
		return action{bytes: answerWith(r, 200, "poison!")}
	case "/misbehave/head-body":
		// A HEAD answered with the body a GET would get.
		get := *r
		get.Method = http.MethodGet
		return action{bytes: answerWith(&get, 200, "")}
	case "/misbehave/204-body":
		return action{bytes: answerWith(r, 204, poison)}
	case "/misbehave/304-body":
		return action{bytes: answerWith(r, 304, poison)}
	case "/misbehave/103":
		// Early hints before the answer.
		return action{bytes: append([]byte("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"), answer(r)...)}
	case "/misbehave/close":
		return action{close: true}
	case "/misbehave/answer-close":
		// Closes after answering without saying Connection: close.
		return action{bytes: answer(r), close: true}
	}
	return action{bytes: answer(r)}
}

func poolGateway(t *testing.T, script func(*upRequest) action) *gateway {
	up := newScripted(t, script)
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
upstreams:
  app:
    targets: [{url: %q}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`, up.URL()))
	return &gateway{Gantry: g, up: up, upstream: "app"}
}

// TestUpstreamFraming has upstreams break HTTP/1.1 framing on pooled
// connections (class 1): whatever an upstream sends after its answer must
// never become another request's answer.
func TestUpstreamFraming(t *testing.T) {
	t.Parallel()
	g := poolGateway(t, misbehave)
	next := []string{"/a", "/b", "/c"}
	const goAnchor = "Go's Transport closes an idle connection on any byte (\"Unsolicited response received on idle HTTP channel\"); NGINX 1.22 gave each client its own answer"
	req := func(method, p string) string {
		return method + " " + p + " HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n"
	}
	cases := []tcase{
		{class: 1, name: "good answers (control)", send: req("GET", "/warm"), want: "200", up: upWant{uri: "/warm"}, after: next},
		{class: 1, name: "unsolicited response after the answer", send: req("GET", "/misbehave/extra"), want: "200", after: next, anchor: goAnchor},
		{class: 1, name: "garbage after the answer", send: req("GET", "/misbehave/extra-garbage"), want: "200", after: next, anchor: goAnchor},
		{class: 1, name: "body after a HEAD answer", send: req("HEAD", "/misbehave/head-body"), want: "200", after: next, anchor: "RFC 9112 §6.3: a HEAD answer ends at its head"},
		{class: 1, name: "body after a 204", send: req("GET", "/misbehave/204-body"), want: "204", after: next, anchor: "RFC 9112 §6.3: a 204 ends at its head"},
		{class: 1, name: "body after a 304", send: req("GET", "/misbehave/304-body"), want: "304", after: next, anchor: "RFC 9112 §6.3: a 304 ends at its head"},
		{class: 1, name: "unsolicited response 10 ms after the answer", send: req("GET", "/misbehave/extra-late"), want: "200", after: next, settle: 100 * time.Millisecond,
			anchor: "issue 13: /a, /b, /c got poison, /a's and /b's answers; " + goAnchor},
		{class: 1, name: "body 10 ms after a HEAD answer", send: req("HEAD", "/misbehave/head-body-late"), want: "200", after: next, settle: 100 * time.Millisecond},
		{class: 1, name: "response 10 ms after a 204", send: req("GET", "/misbehave/204-body-late"), want: "204", after: next, settle: 100 * time.Millisecond},
		{class: 1, name: "POST after unsolicited bytes", send: req("GET", "/misbehave/extra"), want: "200",
			check: func(result, []*upRequest) string {
				res := exchangeRaw(g.Addr, post("/posted", "Content-Length: 3\r\nX-Tag: posted\r\nConnection: close\r\n", "abc"), wireOpts{})
				return ownReply("/posted", "posted", res)
			}},
		{class: 1, name: "103 Early Hints to an HTTP/1.1 client (control)", send: req("GET", "/misbehave/103"),
			check: func(res result, _ []*upRequest) string {
				if len(res.Replies) != 2 || res.Replies[0].Status != 103 || res.Replies[1].Status != 200 {
					return fmt.Sprintf("want 103 then 200, got %s", res)
				}
				return ""
			}},
		{class: 1, name: "103 Early Hints never reach an HTTP/1.0 client", send: "GET /misbehave/103 HTTP/1.0\r\nHost: conformance.test\r\nConnection: keep-alive\r\n\r\n",
			want: "200", after: next, anchor: "RFC 9110 §15.2: a server MUST NOT send a 1xx answer to an HTTP/1.0 client",
			check: func(res result, _ []*upRequest) string {
				if len(res.Replies) != 1 || res.Replies[0].Status != 200 || string(res.Replies[0].Body) != "{\"path\":\"/misbehave/103\"}\n" {
					return fmt.Sprintf("want one 200 with its own body, got %s", res)
				}
				return ""
			}},
		{class: 1, name: "close without answering", send: req("GET", "/misbehave/close"), want: "502", code: "bad_gateway", after: next},
		{class: 1, name: "answer then close", send: req("GET", "/misbehave/answer-close"), want: "200", after: next},
		{class: 1, name: "HEAD then GET on one client connection", send: "HEAD /misbehave/head-body HTTP/1.1\r\nHost: conformance.test\r\n\r\nGET /x HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n",
			want: "200", after: next,
			check: func(res result, _ []*upRequest) string {
				if len(res.Replies) != 2 || string(res.Replies[1].Body) != "{\"path\":\"/x\"}\n" {
					return fmt.Sprintf("the GET after the HEAD got %s", res)
				}
				return ""
			}},
	}
	g.run(t, cases, false)
}

// TestNoCrossedAnswers is issue 13's acceptance test for pooled connections:
// under a steady concurrent load, with an upstream that now and then writes
// an unsolicited response after its answer (in the same write or in one
// of its own), every answer belongs to its
// request. Every request is tagged and every answer checked.
func TestNoCrossedAnswers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	var n atomic.Int64
	g := poolGateway(t, func(r *upRequest) action {
		switch n.Add(1) % 7 {
		case 0:
			// In the answer's own write: it lands in the gateway's buffer.
			return action{bytes: answerWith(r, 200, poison)}
		}
		// Not here: unsolicited bytes in a write of their own right after
		// the answer's. They may reach the gateway after it has handed the
		// connection to the next request and written it, and from then on
		// nothing on the wire tells them from that request's answer (Go's
		// Transport and NGINX share this). Bytes that arrive while the
		// connection is idle are TestUpstreamFraming's *-late cases.
		return action{bytes: answer(r)}
	})
	const workers, perWorker = 8, 250
	var crossed, failed atomic.Int64
	var mu sync.Mutex
	var examples []string
	note := func(s string) {
		mu.Lock()
		if len(examples) < 5 {
			examples = append(examples, s)
		}
		mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
			defer client.CloseIdleConnections()
			for i := range perWorker {
				p := fmt.Sprintf("/load/w%d/r%d", w, i)
				tag := fmt.Sprintf("w%d-r%d", w, i)
				method, body := http.MethodGet, ""
				switch i % 5 {
				case 3:
					method, body = http.MethodPost, tag
				case 4:
					method = http.MethodHead
				}
				req, _ := http.NewRequest(method, g.URL+p, strings.NewReader(body))
				req.Header.Set("X-Tag", tag)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					note(fmt.Sprintf("%s %s: %v", method, p, err))
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := ""
				if method != http.MethodHead {
					want = "{\"path\":" + strconv.Quote(p) + "}\n"
				}
				if resp.StatusCode != 200 {
					failed.Add(1)
					note(fmt.Sprintf("%s %s: %d %q", method, p, resp.StatusCode, got))
					continue
				}
				if string(got) != want || resp.Header.Get("X-Upstream-Tag") != tag {
					crossed.Add(1)
					note(fmt.Sprintf("%s %s (tag %s) got %q tagged %q", method, p, tag, got, resp.Header.Get("X-Upstream-Tag")))
				}
			}
		})
	}
	wg.Wait()
	total := workers * perWorker
	t.Logf("%2d | %s | %s | %d answers, %d crossed, %d failed in %v | %d requests, 1 in 7 answers followed by an unsolicited response",
		1, "steady load with unsolicited responses", quote(fmt.Sprintf("%d workers x %d tagged GET/POST/HEAD", workers, perWorker)),
		int64(total)-failed.Load(), crossed.Load(), failed.Load(), time.Since(start).Round(time.Millisecond), n.Load())
	for _, e := range examples {
		t.Log("  e.g. " + e)
	}
	if crossed.Load() != 0 {
		t.Errorf("%d of %d answers reached the wrong request", crossed.Load(), total)
	}
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed", failed.Load(), total)
	}
}
