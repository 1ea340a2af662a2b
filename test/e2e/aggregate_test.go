package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// services is a small users/orders/products backend with delays.
func services(t *testing.T, delay time.Duration) string {
	srv := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/users/"):
			id := strings.TrimPrefix(r.URL.Path, "/users/")
			fmt.Fprintf(w, `{"id": %q, "name": "Ada", "email": "ada@example.com", "consumer": %q, "request_id": %q}`,
				id, r.Header.Get("X-Consumer-ID"), r.Header.Get("X-Request-ID"))
		case r.URL.Path == "/orders":
			fmt.Fprintf(w, `[{"id": 1, "total": 10, "status": "paid", "user": %q, "secret": "x"}, {"id": 2, "total": 20, "status": "open", "user": %q, "secret": "y"}]`,
				r.URL.Query().Get("user_id"), r.URL.Query().Get("user_id"))
		case r.URL.Path == "/recs":
			fmt.Fprint(w, `{"items": ["a", "b"]}`)
		case r.URL.Path == "/broken":
			w.WriteHeader(500)
			fmt.Fprint(w, `{"error": "boom"}`)
		case r.URL.Path == "/slow":
			time.Sleep(2 * time.Second)
			fmt.Fprint(w, `{}`)
		default:
			w.WriteHeader(404)
		}
	}))
	return srv.URL
}

func aggregateConfig(url string) string {
	return base(fmt.Sprintf(`upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: dashboard
    match: {path: "/dashboard/{user_id}", methods: [GET]}
    aggregate:
      timeout: 1s
      calls:
        - name: user
          upstream: svc
          path: /users/{user_id}
          select: [id, name]
        - name: orders
          upstream: svc
          path: /orders?user_id={user.id}
          select: [id, total, status]
        - name: recs
          upstream: svc
          path: /recs
          optional: true
  - name: partial
    match: {path: "/partial/{user_id}"}
    aggregate:
      calls:
        - {name: user, upstream: svc, path: "/users/{user_id}"}
        - {name: extra, upstream: svc, path: /broken, optional: true}
  - name: failing
    match: {path: "/failing/{user_id}"}
    aggregate:
      calls:
        - {name: user, upstream: svc, path: "/users/{user_id}"}
        - {name: billing, upstream: svc, path: /broken}
  - name: slow
    match: {path: /slow}
    aggregate:
      timeout: 300ms
      calls:
        - {name: user, upstream: svc, path: /users/1}
        - {name: slowpoke, upstream: svc, path: /slow}
  - name: slowfail
    match: {path: /slowfail}
    aggregate:
      timeout: 5s
      calls:
        - {name: slowpoke, upstream: svc, path: /slow}
        - {name: billing, upstream: svc, path: /broken}
`, url))
}

func TestAggregate(t *testing.T) {
	g := testkit.Start(t, aggregateConfig(services(t, 0)))

	r := get(t, g.URL+"/dashboard/42")
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("dashboard: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	want := `{"orders":[{"id":1,"status":"paid","total":10},{"id":2,"status":"open","total":20}],"recs":{"items":["a","b"]},"user":{"id":"42","name":"Ada"}}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Fatalf("merged\n got %s\nwant %s", b, want)
	}
	if r.Header.Get("X-Gantry-Partial") != "" {
		t.Fatalf("X-Gantry-Partial %q on a whole answer", r.Header.Get("X-Gantry-Partial"))
	}

	r = get(t, g.URL+"/partial/7", "X-Request-ID: agg-partial-1")
	if r.Status != 200 || r.Header.Get("X-Gantry-Partial") != "extra" {
		t.Fatalf("partial: %d, X-Gantry-Partial %q, body %s", r.Status, r.Header.Get("X-Gantry-Partial"), r.Body)
	}
	if strings.Contains(string(r.Body), `"extra"`) {
		t.Fatalf("failed optional call present: %s", r.Body)
	}
	// The access log names the calls left out, on the request's line.
	var line string
	for deadline := time.Now().Add(3 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for l := range strings.SplitSeq(g.Stdout(), "\n") {
			if strings.Contains(l, `"request_id":"agg-partial-1"`) {
				line = l
			}
		}
	}
	if !strings.Contains(line, `"partial":["extra"]`) {
		t.Errorf("access log line of the partial answer = %q, want \"partial\":[\"extra\"]", line)
	}

	r = get(t, g.URL+"/failing/7")
	if r.Status != 502 {
		t.Fatalf("failing: %d %s", r.Status, r.Body)
	}
	if e := r.gwError(t); e.Error != "aggregate_failed" || !strings.Contains(e.Message, "billing") {
		t.Fatalf("failing: %+v, want aggregate_failed naming billing", e)
	}

	start := time.Now()
	r = get(t, g.URL+"/slow")
	if r.Status != 504 || r.gwError(t).Error != "aggregate_failed" {
		t.Fatalf("slow: %d %s", r.Status, r.Body)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("slow aggregate took %v, want about its 300ms timeout", d)
	}

	// A required call that fails behind a slow one ends the request
	// without waiting for the slow answer (2s): the request's goroutine
	// reads the answers in order, and hands the rest to workers once the
	// first is late.
	start = time.Now()
	r = get(t, g.URL+"/slowfail")
	if r.Status != 502 {
		t.Fatalf("slowfail: %d %s", r.Status, r.Body)
	}
	if e := r.gwError(t); e.Error != "aggregate_failed" || !strings.Contains(e.Message, "billing") {
		t.Fatalf("slowfail: %+v, want aggregate_failed naming billing", e)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("slowfail took %v; the failure waited for the slow call", d)
	}
}

// TestAggregateCarriesIdentity: calls carry the client's request ID and
// the consumer authentication established.
func TestAggregateCarriesIdentity(t *testing.T) {
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  api_key: {header: X-API-Key}
consumers:
  - id: acme
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: me
    match: {path: "/me/{id}"}
    auth: [api_key]
    aggregate:
      calls:
        - {name: user, upstream: svc, path: "/users/{id}"}
`, services(t, 0))))
	r := get(t, g.URL+"/me/7", "X-API-Key: acme-key-0123456789", "X-Request-ID: agg-req-1")
	var got struct {
		User struct {
			Consumer  string `json:"consumer"`
			RequestID string `json:"request_id"`
		} `json:"user"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	if got.User.Consumer != "acme" || got.User.RequestID != "agg-req-1" {
		t.Fatalf("call saw consumer %q and request ID %q, want acme and agg-req-1", got.User.Consumer, got.User.RequestID)
	}
}

// TestAggregateCallFields holds every call's header to the list in
// docs/aggregation.md: the request ID, the forwarding fields, the
// consumer, Accept, the call's own headers and the route's
// request_headers, and nothing of the client's own. The calls that send
// the shared header as it is and the call with headers of its own are
// built two ways (h1.Block, a header map); both are checked.
func TestAggregateCallFields(t *testing.T) {
	echo := testkit.NewEcho(t, "svc")
	g := testkit.Start(t, base(fmt.Sprintf(`auth:
  api_key: {header: X-API-Key}
consumers:
  - id: acme
    groups: [partners, beta]
    api_keys: [{key: acme-key-0123456789}]
upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: dash
    match: {path: "/dash/{id}"}
    auth: [api_key]
    request_headers: {set: {X-Route: r1}}
    aggregate:
      calls:
        - {name: a, upstream: svc, path: "/a/{id}"}
        - {name: b, upstream: svc, path: "/b/{id}", headers: {X-Call: b1}}
        - {name: c, upstream: svc, path: "/c"}
`, echo.URL)))
	_, port, _ := strings.Cut(strings.TrimPrefix(g.URL, "http://"), ":")
	for _, round := range []string{"first", "pooled"} {
		echo.Reset()
		r := get(t, g.URL+"/dash/7",
			"X-API-Key: acme-key-0123456789", "X-Request-ID: agg-fields-1", "Host: shop.example",
			"X-Forwarded-For: 203.0.113.9", "X-Real-IP: 203.0.113.9", "X-Consumer-ID: mallory",
			"Cookie: session=1", "Authorization: Bearer t", "Accept: text/html", "X-Custom: nope")
		if r.Status != 200 {
			t.Fatalf("%s: status %d %s", round, r.Status, r.Body)
		}
		shared := map[string][]string{
			"Accept":            {"application/json"},
			"X-Request-Id":      {"agg-fields-1"},
			"X-Forwarded-For":   {"127.0.0.1"},
			"X-Forwarded-Host":  {"shop.example"},
			"X-Forwarded-Proto": {"http"},
			"X-Forwarded-Port":  {port},
			"X-Real-Ip":         {"127.0.0.1"},
			"X-Consumer-Id":     {"acme"},
			"X-Consumer-Groups": {"partners,beta"},
			"X-Route":           {"r1"},
		}
		seen := map[string]bool{}
		for _, s := range echo.Requests() {
			seen[s.Path] = true
			want := maps.Clone(shared)
			if s.Path == "/b/7" {
				want["X-Call"] = []string{"b1"}
			}
			// Framing is the client's business, not the contract's.
			got := maps.Clone(s.Header)
			delete(got, "Content-Length")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: call %s carried\n%v\nwant\n%v", round, s.Path, got, want)
			}
			if s.Host != echo.Listener.Addr().String() {
				t.Errorf("%s: call %s had Host %q, want the target's %q", round, s.Path, s.Host, echo.Listener.Addr())
			}
		}
		if !seen["/a/7"] || !seen["/b/7"] || !seen["/c"] || len(seen) != 3 {
			t.Fatalf("%s: calls made: %v", round, seen)
		}
	}
}

// TestAggregateConcurrent: independent calls run together, so three 150 ms
// calls answer in about 150 ms, not 450.
func TestAggregateConcurrent(t *testing.T) {
	url := services(t, 150*time.Millisecond)
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: three
    match: {path: /three}
    aggregate:
      calls:
        - {name: a, upstream: svc, path: /users/1}
        - {name: b, upstream: svc, path: /users/2}
        - {name: c, upstream: svc, path: /recs}
`, url)))
	get(t, g.URL+"/three") // warm the connections
	start := time.Now()
	if r := get(t, g.URL+"/three"); r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Fatalf("three 150ms calls took %v: not concurrent", d)
	}
}

// TestAggregateCycleRejected: gantry validate names the cycle and its line.
func TestAggregateCycleRejected(t *testing.T) {
	cfg := base(`upstreams:
  svc: {targets: [{url: "http://127.0.0.1:9"}]}
routes:
  - name: loop
    match: {path: /loop}
    aggregate:
      calls:
        - name: a
          upstream: svc
          path: /a?x={b.id}
        - name: b
          upstream: svc
          path: /b?x={a.id}
`)
	path := testkit.WriteConfig(t, cfg)
	out, err := exec.Command(testkit.Binary(t), "validate", "--config", path).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a cycle:\n%s", out)
	}
	if !strings.Contains(string(out), "routes[0].aggregate") || !strings.Contains(string(out), "cycle") || !strings.Contains(string(out), "gantry.yaml:") {
		t.Fatalf("validate output lacks the cycle, its key path or line:\n%s", out)
	}
}

// TestAggregateAnswersMustBeJSON: an answer copied whole (nothing selects
// from it) must be one JSON value, as encoding/json.Valid decides: a
// truncated answer fails the required call with aggregate_failed, while
// JSON that Go's decoder accepts beyond the strict grammar (a repeated
// member name) and deep nesting pass.
func TestAggregateAnswersMustBeJSON(t *testing.T) {
	deep := strings.Repeat("[", 500) + "1" + strings.Repeat("]", 500)
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/truncated":
			fmt.Fprint(w, `{"id": 1, "name": "Ad`)
		case "/trailing":
			fmt.Fprint(w, `{"id": 1} {"id": 2}`)
		case "/repeated":
			fmt.Fprint(w, `{"id": 1, "id": 2}`)
		case "/deep":
			fmt.Fprint(w, deep)
		}
	}))
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: truncated
    match: {path: /truncated}
    aggregate:
      calls:
        - {name: bad, upstream: svc, path: /truncated}
  - name: trailing
    match: {path: /trailing}
    aggregate:
      calls:
        - {name: bad, upstream: svc, path: /trailing}
  - name: accepted
    match: {path: /accepted}
    aggregate:
      calls:
        - {name: repeated, upstream: svc, path: /repeated}
        - {name: deep, upstream: svc, path: /deep}
`, up.URL)))

	for _, path := range []string{"/truncated", "/trailing"} {
		r := get(t, g.URL+path)
		if r.Status != 502 {
			t.Fatalf("%s: %d %s, want 502", path, r.Status, r.Body)
		}
		if e := r.gwError(t); e.Error != "aggregate_failed" || !strings.Contains(e.Message, "bad") {
			t.Fatalf("%s: %+v, want aggregate_failed naming the call", path, e)
		}
	}
	r := get(t, g.URL+"/accepted")
	if r.Status != 200 {
		t.Fatalf("accepted: %d %s", r.Status, r.Body)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("accepted: body %s: %v", r.Body, err)
	}
	if string(got["deep"]) != deep || !strings.Contains(string(got["repeated"]), `"id"`) {
		t.Fatalf("accepted: answers not copied whole: %s", r.Body)
	}
}

// TestAggregateAnswerMediaTypes: an answer is taken when its Content-Type
// is application/json or a +json type, in any case and with parameters
// (docs/aggregation.md); any other type fails the call, naming the type.
// Through both of the aggregate's ways of reading an answer: copied whole
// (raw) and decoded (select).
func TestAggregateAnswerMediaTypes(t *testing.T) {
	types := map[string]string{
		"json":    "application/json",
		"params":  "Application/JSON; charset=utf-8",
		"problem": "application/problem+json",
		"text":    "text/plain",
		"none":    "",
	}
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{types[r.URL.Query().Get("t")]}
		fmt.Fprint(w, `{"id": 7, "name": "Ada"}`)
	}))
	g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  svc: {targets: [{url: %q}]}
routes:
  - name: raw
    match: {path: "/raw/{t}"}
    aggregate:
      calls:
        - {name: user, upstream: svc, path: "/u?t={t}"}
  - name: decoded
    match: {path: "/decoded/{t}"}
    aggregate:
      calls:
        - {name: user, upstream: svc, path: "/u?t={t}", select: [id]}
`, up.URL)))
	for _, way := range []string{"raw", "decoded"} {
		for _, ok := range []string{"json", "params", "problem"} {
			r := get(t, g.URL+"/"+way+"/"+ok)
			var got struct{ User struct{ ID int } }
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &got) != nil || got.User.ID != 7 {
				t.Errorf("%s, %q: %d %s, want 200 with the answer", way, types[ok], r.Status, r.Body)
			}
		}
		for bad, want := range map[string]string{"text": `upstream answered "text/plain", not JSON`, "none": "without a Content-Type"} {
			r := get(t, g.URL+"/"+way+"/"+bad)
			if r.Status != http.StatusBadGateway {
				t.Errorf("%s, %q: %d %s, want 502", way, types[bad], r.Status, r.Body)
				continue
			}
			if e := r.gwError(t); e.Error != "aggregate_failed" || !strings.Contains(e.Message, want) {
				t.Errorf("%s, %q: %+v, want aggregate_failed with %q", way, types[bad], e, want)
			}
		}
	}
}
