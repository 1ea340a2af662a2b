package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// tcase is one row of the conformance table.
type tcase struct {
	class int    // the class of issue 13 (1 to 12)
	name  string // what the case is, in a few words
	// What is sent: raw HTTP/1 bytes (send), an HTTP/2 stream (h2), or the
	// same bytes to the admin listener (admin).
	send  string
	h2    *h2Stream
	admin bool
	opts  wireOpts
	// What the gateway must answer: alternatives separated by "|": a
	// status ("400"), a status class ("2xx"), "closed" (no answer and the
	// connection closed) or "reset" (HTTP/2 stream or connection reset).
	// Empty accepts any answer.
	want string
	// never lists statuses or classes no answer may have ("2xx", "502").
	never []string
	code  string // the JSON error code every error answer must carry ("*": any)
	close bool   // the gateway must close the connection after answering
	up    upWant
	// after are paths fetched right after the case, each on a fresh
	// connection: each must get its own answer (body and tag).
	after  []string
	settle time.Duration // pause before the after requests
	anchor string        // what NGINX, HAProxy or Envoy do, where known
	// check is an extra assertion; it returns a problem or "".
	check func(res result, reqs []*upRequest) string
}

// upWant is what the upstream must (not) receive during a case.
type upWant struct {
	nothing    bool              // not a single byte
	noComplete bool              // no complete request (bytes of a cut one are fine)
	uri        string            // exactly one complete request, with this target
	notUnder   []string          // no request whose canonical path lies under these
	absent     []string          // headers no complete request may carry
	equal      map[string]string // headers every complete request carries with this value
	unequal    map[string]string // headers no complete request carries with this value
}

// gateway is a running gantry with its scripted upstream(s).
type gateway struct {
	*testkit.Gantry
	up *scripted
	// upstream is the name of up in the config: the upstream whose metrics
	// and health cases watch.
	upstream string
}

// run runs the table in order, each case as a subtest.
func (g *gateway) run(t *testing.T, cases []tcase, watch bool) {
	t.Helper()
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%02d/%s", tc.class, tc.name), func(t *testing.T) {
			g.runCase(t, tc, watch)
		})
	}
}

// runCase sends one case and checks the gateway's answer and what the
// upstream received. With watch, the case must also leave the upstream's
// failure metrics and health as they were.
func (g *gateway) runCase(t *testing.T, tc tcase, watch bool) {
	var before failures
	if watch {
		before = g.failures(t)
	}
	g.up.reset()
	var res result
	var sent string
	switch {
	case tc.h2 != nil:
		sent = tc.h2.String()
		res = exchangeH2(g.Addr, *tc.h2)
	default:
		addr := g.Addr
		if tc.admin {
			addr = strings.TrimPrefix(g.AdminURL, "http://")
		}
		sent = tc.send
		for _, p := range tc.opts.parts {
			sent += p.bytes
		}
		res = exchangeRaw(addr, tc.send, tc.opts)
	}
	reqs, n := g.up.quiet()
	var problems []string
	problems = append(problems, checkAnswer(tc, res)...)
	problems = append(problems, checkUpstream(tc.up, reqs, n)...)
	if strings.Contains(g.up.received(), "/public/smuggled") {
		problems = append(problems, "a request smuggled in a body reached the upstream")
	}
	if tc.check != nil {
		if p := tc.check(res, reqs); p != "" {
			problems = append(problems, p)
		}
	}
	time.Sleep(tc.settle)
	for _, p := range tc.after {
		if p := g.ownAnswer(p); p != "" {
			problems = append(problems, p)
		}
	}
	upSaw := summarize(reqs, n)
	if watch {
		after := g.failures(t)
		if d := after.sub(before); d != "" {
			problems = append(problems, d)
			upSaw += "; " + d
		}
	}
	anchor := ""
	if tc.anchor != "" {
		anchor = " | anchor: " + tc.anchor
	}
	t.Logf("%2d | %s | %s | %s | %s%s", tc.class, tc.name, quote(sent), res, upSaw, anchor)
	for _, p := range problems {
		t.Error(p)
	}
	if watch {
		g.awaitHealthy(t)
	}
}

func checkAnswer(tc tcase, res result) []string {
	var problems []string
	if tc.want != "" && !matchesAny(tc.want, res) {
		problems = append(problems, fmt.Sprintf("gateway answered %s, want %s", res, tc.want))
	}
	for _, rp := range res.Replies {
		for _, nv := range tc.never {
			if statusIs(rp.Status, nv) {
				problems = append(problems, fmt.Sprintf("gateway answered %d; never %s here", rp.Status, nv))
			}
		}
		if tc.code != "" && rp.Status >= 400 && (rp.Code != tc.code && (tc.code != "*" || rp.Code == "")) {
			problems = append(problems, fmt.Sprintf("error %d has code %q (Content-Type %q), want the contract's JSON with %q", rp.Status, rp.Code, mediaType(rp.Header), tc.code))
		}
	}
	if tc.close && len(res.Replies) > 0 && !res.Closed && res.Reset == "" {
		problems = append(problems, "connection left open, want it closed")
	}
	return problems
}

func matchesAny(spec string, res result) bool {
	for _, alt := range strings.Split(spec, "|") {
		switch alt {
		case "closed":
			if len(res.Replies) == 0 && (res.Closed || res.Reset != "") {
				return true
			}
		case "reset":
			if res.Reset != "" {
				return true
			}
		default:
			if len(res.Replies) > 0 && statusIs(res.Replies[0].Status, alt) {
				return true
			}
		}
	}
	return false
}

// statusIs reports whether status is spec: "404" or a class "4xx".
func statusIs(status int, spec string) bool {
	if strings.HasSuffix(spec, "xx") {
		return strconv.Itoa(status/100) == spec[:1]
	}
	return strconv.Itoa(status) == spec
}

func checkUpstream(w upWant, reqs []*upRequest, n int) []string {
	var problems []string
	var complete []*upRequest
	for _, r := range reqs {
		if r.Complete {
			complete = append(complete, r)
		}
	}
	if w.nothing && n > 0 {
		problems = append(problems, fmt.Sprintf("upstream received %s, want nothing", summarize(reqs, n)))
	}
	if w.noComplete && len(complete) > 0 {
		problems = append(problems, fmt.Sprintf("upstream received %s, want no complete request", summarize(reqs, n)))
	}
	if w.uri != "" && (len(complete) != 1 || complete[0].URI != w.uri) {
		problems = append(problems, fmt.Sprintf("upstream received %s, want one request for %s", summarize(reqs, n), w.uri))
	}
	for _, r := range complete {
		cp := canonical(r.URI)
		for _, p := range w.notUnder {
			if cp == p || strings.HasPrefix(cp, p+"/") {
				problems = append(problems, fmt.Sprintf("upstream received %s (%s) without authentication", r.URI, cp))
			}
		}
		for _, h := range w.absent {
			if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
				problems = append(problems, fmt.Sprintf("upstream received %s: %q, want it absent", h, v))
			}
		}
		for h, want := range w.equal {
			if got := r.Header.Values(h); len(got) != 1 || got[0] != want {
				problems = append(problems, fmt.Sprintf("upstream received %s: %q, want %q", h, got, want))
			}
		}
		for h, bad := range w.unequal {
			for _, got := range r.Header.Values(h) {
				if got == bad {
					problems = append(problems, fmt.Sprintf("upstream received the client's %s: %q", h, got))
				}
			}
		}
	}
	return problems
}

// canonical is how an application server could read a request target:
// percent-decoded, `;` parameters stripped from every segment, slashes
// merged and dot segments resolved.
func canonical(uri string) string {
	p, _, _ := strings.Cut(uri, "?")
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

// quiet waits until the upstream has received nothing new for a moment and
// returns what it received.
func (s *scripted) quiet() ([]*upRequest, int) {
	_, last := s.requests()
	for range 20 {
		time.Sleep(25 * time.Millisecond)
		_, n := s.requests()
		if n == last {
			break
		}
		last = n
	}
	return s.requests()
}

// ownAnswer fetches p on a fresh connection, tagged, and says what is wrong
// if the answer is not p's own.
func (g *gateway) ownAnswer(p string) string {
	tag := "after-" + strings.Trim(strings.ReplaceAll(p, "/", "-"), "-")
	res := exchangeRaw(g.Addr, "GET "+p+" HTTP/1.1\r\nHost: conformance.test\r\nX-Tag: "+tag+"\r\nConnection: close\r\n\r\n", wireOpts{})
	return ownReply(p, tag, res)
}

func ownReply(p, tag string, res result) string {
	if len(res.Replies) == 0 {
		return fmt.Sprintf("GET %s afterwards: %s", p, res)
	}
	rp := res.Replies[0]
	want := fmt.Sprintf("{\"path\":%s}\n", strconv.Quote(p))
	if rp.Status != 200 || string(rp.Body) != want || rp.Header.Get("X-Upstream-Tag") != tag {
		return fmt.Sprintf("GET %s afterwards got %d %q tagged %q: not its own answer", p, rp.Status, rp.Body, rp.Header.Get("X-Upstream-Tag"))
	}
	return ""
}

// failures are the counters an upstream failure moves, for one upstream.
type failures struct {
	upstreamErrors float64 // gantry_upstream_requests_total without an answer or with a 5xx
	gateway502     float64 // gantry_requests_total with status 502
	ejected        int     // targets not healthy in /admin/upstreams
}

func (a failures) sub(b failures) string {
	var s []string
	if d := a.upstreamErrors - b.upstreamErrors; d > 0 {
		s = append(s, fmt.Sprintf("%g upstream failure(s) counted", d))
	}
	if d := a.gateway502 - b.gateway502; d > 0 {
		s = append(s, fmt.Sprintf("%g answer(s) 502 counted", d))
	}
	if a.ejected > 0 {
		s = append(s, fmt.Sprintf("%d target(s) ejected or unhealthy", a.ejected))
	}
	return strings.Join(s, ", ")
}

// failures scrapes /metrics and /admin/upstreams.
func (g *gateway) failures(t *testing.T) failures {
	t.Helper()
	var f failures
	for _, m := range g.metrics(t) {
		switch m.name {
		case "gantry_upstream_requests_total":
			if m.labels["upstream"] == g.upstream && failedStatus(m.labels["status"]) {
				f.upstreamErrors += m.value
			}
		case "gantry_requests_total":
			if m.labels["status"] == "502" {
				f.gateway502 += m.value
			}
		}
	}
	for _, st := range g.targetStates(t) {
		if st != "healthy" {
			f.ejected++
		}
	}
	return f
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics reads the admin /metrics page.
func (g *gateway) metrics(t *testing.T) []sample {
	t.Helper()
	resp, err := http.Get(g.AdminURL + "/metrics")
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	defer resp.Body.Close()
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s := sample{labels: map[string]string{}, value: v}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			for _, kv := range strings.Split(strings.TrimSuffix(name[j+1:], "}"), ",") {
				k, v, _ := strings.Cut(kv, "=")
				if uq, err := strconv.Unquote(v); err == nil {
					s.labels[k] = uq
				}
			}
			name = name[:j]
		}
		s.name = name
		out = append(out, s)
	}
	return out
}

// targetStates reads /admin/upstreams: the state of each target of the
// watched upstream, by URL.
func (g *gateway) targetStates(t *testing.T) map[string]string {
	t.Helper()
	resp, err := http.Get(g.AdminURL + "/admin/upstreams")
	if err != nil {
		t.Fatalf("/admin/upstreams: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var res struct {
		Upstreams []struct {
			Name    string `json:"name"`
			Targets []struct {
				URL   string `json:"url"`
				State string `json:"state"`
			} `json:"targets"`
		} `json:"upstreams"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("/admin/upstreams: %v: %s", err, body)
	}
	out := map[string]string{}
	for _, u := range res.Upstreams {
		if u.Name == g.upstream {
			for _, tg := range u.Targets {
				out[tg.URL] = tg.State
			}
		}
	}
	return out
}

// awaitHealthy waits (up to 3 s) until every watched target is healthy
// again, so one case's damage does not spill into the next.
func (g *gateway) awaitHealthy(t *testing.T) {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, st := range g.targetStates(t) {
			ok = ok && st == "healthy"
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get is a plain GET through the gateway on a fresh connection.
func get(addr, p string, headers ...string) result {
	req := "GET " + p + " HTTP/1.1\r\nHost: conformance.test\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	return exchangeRaw(addr, req+"Connection: close\r\n\r\n", wireOpts{})
}

// failedStatus reports whether a gantry_upstream_requests_total status
// label counts attempts that got no answer (connect_error, timeout, error)
// or a 5xx.
func failedStatus(s string) bool {
	switch s {
	case "connect_error", "timeout", "error", "0":
		return true
	}
	return strings.HasPrefix(s, "5")
}
