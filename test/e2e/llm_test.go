package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

const llmKey = "acme-llm-key-0123456789"

// llmConfig is a gateway in front of the stand-in API with an OpenAI
// route (chat) and an Anthropic route (messages). sections adds counters
// and storage; plan is the pro plan's limits.
func llmConfig(sections, plan, api string) string {
	return base(sections + fmt.Sprintf(`usage: {flush_interval: 100ms}
plans:
  pro:
%s
    pricing:
      currency: USD
      monthly_fee: 49.00
      per_1m_tokens:
        gpt-4o-mini: {input: 0.15, output: 0.60}
        gpt-4.1: {input: 2.00, output: 8.00}
        claude-sonnet-4: {input: 3.00, output: 15.00}
consumers:
  - id: acme
    plan: pro
    api_keys: [{key: %s}]
upstreams:
  llm: {targets: [{url: %q}]}
routes:
  - name: chat
    match: {path: /v1/chat/completions, methods: [POST]}
    auth: [api_key]
    upstream: llm
    request_headers: {set: {Authorization: "Bearer sk-provider"}}
    llm: {format: openai, models: [gpt-4o-mini, gpt-4.1], max_tokens_default: 1024}
  - name: messages
    match: {path: /v1/messages, methods: [POST]}
    auth: [api_key]
    upstream: llm
    llm: {format: anthropic, models: [claude-sonnet-4], max_tokens_default: 512}
`, plan, llmKey, api))
}

// llmAsk is one request to the gateway.
type llmAsk struct {
	path         string
	model        string
	stream       bool
	includeUsage bool
	in, out      int64
	maxTokens    int64
}

func (a llmAsk) body() string {
	var extra string
	if a.stream {
		extra += `,"stream":true`
	}
	if a.includeUsage {
		extra += `,"stream_options":{"include_usage":true}`
	}
	if a.maxTokens > 0 {
		extra += fmt.Sprintf(`,"max_tokens":%d`, a.maxTokens)
	}
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"in=%d out=%d"}]%s}`, a.model, a.in, a.out, extra)
}

func (a llmAsk) send(t *testing.T, g *testkit.Gantry) response {
	t.Helper()
	return do(t, "POST", g.URL+a.path, a.body(), "X-API-Key: "+llmKey, "Content-Type: application/json")
}

// llmUsage is a usage report row with the LLM columns.
type llmUsage struct {
	Model        string `json:"model"`
	Requests     int64  `json:"requests"`
	Admitted     int64  `json:"admitted"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// usageByModel reads acme's usage of the month grouped by model.
func usageByModel(t *testing.T, g *testkit.Gantry) map[string]llmUsage {
	t.Helper()
	status, body := g.Admin("GET", "/admin/usage?consumer=acme&group_by=model", "")
	if status != 200 {
		t.Fatalf("/admin/usage: %d %s", status, body)
	}
	var out struct{ Rows []llmUsage }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("/admin/usage body %s: %v", body, err)
	}
	m := map[string]llmUsage{}
	for _, r := range out.Rows {
		m[r.Model] = r
	}
	return m
}

// waitModelUsage polls until the ledger holds want requests in total.
// Flushes run every 100 ms; the deadline is for a loaded machine.
func waitModelUsage(t *testing.T, g *testkit.Gantry, want int64) map[string]llmUsage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := usageByModel(t, g)
		var n int64
		for _, r := range m {
			n += r.Requests
		}
		if n >= want || time.Now().After(deadline) {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sseData returns the data of each event of an event stream.
func sseData(body []byte) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// TestLLMRoutes: through the binary, each kind of answer is relayed and
// metered to the token: OpenAI and Anthropic, streamed and not; the
// gateway asks an OpenAI stream for its usage and hides the usage chunk
// from a client that did not ask for it; max_tokens_default fills
// requests that name none; a model outside the list, a body that is not
// JSON and one without a model never reach the upstream.
func TestLLMRoutes(t *testing.T) {
	api := newLLMAPI(t)
	g := testkit.Start(t, llmConfig(fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db")),
		"    token_limit: {tokens: 1000000, per: 1m}", api.URL))

	t.Run("refused before the upstream", func(t *testing.T) {
		tests := []struct {
			name   string
			path   string
			body   string
			status int
			code   string
		}{
			{"model not allowed", "/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`, 403, "model_not_allowed"},
			{"anthropic model on the openai route", "/v1/chat/completions", `{"model":"claude-sonnet-4","messages":[]}`, 403, "model_not_allowed"},
			{"not json", "/v1/messages", `model=claude-sonnet-4`, 400, "bad_request"},
			{"no model", "/v1/messages", `{"messages":[{"role":"user","content":"hi"}]}`, 400, "bad_request"},
			{"model not a string", "/v1/messages", `{"model":["claude-sonnet-4"]}`, 400, "bad_request"},
		}
		for _, tt := range tests {
			r := do(t, "POST", g.URL+tt.path, tt.body, "X-API-Key: "+llmKey)
			if r.Status != tt.status || r.gwError(t).Error != tt.code {
				t.Errorf("%s: %d %s, want %d %s", tt.name, r.Status, r.Body, tt.status, tt.code)
			}
		}
		if calls := api.Calls(); len(calls) != 0 {
			t.Fatalf("the upstream saw %d requests, want none: %+v", len(calls), calls)
		}
	})

	asks := []struct {
		ask       llmAsk
		wantUsage bool // the client sees a usage chunk
	}{
		{ask: llmAsk{path: "/v1/chat/completions", model: "gpt-4o-mini", in: 120, out: 34}},
		{ask: llmAsk{path: "/v1/chat/completions", model: "gpt-4.1", stream: true, in: 1000, out: 250}},
		{ask: llmAsk{path: "/v1/chat/completions", model: "gpt-4.1", stream: true, includeUsage: true, in: 7, out: 3}, wantUsage: true},
		{ask: llmAsk{path: "/v1/messages", model: "claude-sonnet-4", in: 55, out: 21, maxTokens: 64}},
		{ask: llmAsk{path: "/v1/messages", model: "claude-sonnet-4", stream: true, in: 4000, out: 900}},
	}
	want := map[string]llmUsage{}
	for i, a := range asks {
		r := a.ask.send(t, g)
		if r.Status != 200 {
			t.Fatalf("ask %d: %d %s", i, r.Status, r.Body)
		}
		if got := r.Header.Get("X-Ratelimit-Limit-Tokens"); got != "1000000" {
			t.Errorf("ask %d: X-RateLimit-Limit-Tokens = %q, want the consumer's 1000000 (not the provider's)", i, got)
		}
		if _, err := strconv.ParseInt(r.Header.Get("X-Ratelimit-Remaining-Tokens"), 10, 64); err != nil {
			t.Errorf("ask %d: X-RateLimit-Remaining-Tokens = %q", i, r.Header.Get("X-Ratelimit-Remaining-Tokens"))
		}
		if a.ask.stream && a.ask.path == "/v1/chat/completions" {
			data := sseData(r.Body)
			if data[len(data)-1] != "[DONE]" {
				t.Errorf("ask %d: stream ends with %q, want [DONE]", i, data[len(data)-1])
			}
			usage := strings.Contains(string(r.Body), `"usage":{`)
			if usage != a.wantUsage {
				t.Errorf("ask %d: usage chunk relayed %v, want %v:\n%s", i, usage, a.wantUsage, r.Body)
			}
			if len(data) != 4+btoi(a.wantUsage) {
				t.Errorf("ask %d: %d events, want %d", i, len(data), 4+btoi(a.wantUsage))
			}
		}
		w := want[a.ask.model]
		w.Model, w.Requests, w.Admitted = a.ask.model, w.Requests+1, w.Admitted+1
		w.InputTokens += a.ask.in
		w.OutputTokens += a.ask.out
		want[a.ask.model] = w
	}
	calls := api.Calls()
	if len(calls) != len(asks) {
		t.Fatalf("the upstream saw %d requests, want %d", len(calls), len(asks))
	}
	for i, c := range calls {
		a := asks[i].ask
		wantMax := a.maxTokens
		if wantMax == 0 {
			wantMax = map[string]int64{"/v1/chat/completions": 1024, "/v1/messages": 512}[a.path]
		}
		if c.MaxTokens != wantMax {
			t.Errorf("call %d: max_tokens %d, want %d", i, c.MaxTokens, wantMax)
		}
		if a.stream && a.path == "/v1/chat/completions" && !c.IncludeUsage {
			t.Errorf("call %d: the gateway did not ask the stream for its usage", i)
		}
		if a.path == "/v1/chat/completions" && c.Authorization != "Bearer sk-provider" {
			t.Errorf("call %d: Authorization %q, want the provider key", i, c.Authorization)
		}
	}
	got := waitModelUsage(t, g, int64(len(asks))+5)
	for model, w := range want {
		if g := got[model]; g != w {
			t.Errorf("ledger for %s = %+v, want %+v", model, g, w)
		}
	}
	// Refused models count as requests of model "other", bodies without
	// a model as requests without one; neither has tokens.
	if o := got["other"]; o.Requests != 2 || o.Admitted != 0 || o.InputTokens != 0 {
		t.Errorf("ledger for other = %+v, want 2 requests, none admitted", o)
	}
	if o := got[""]; o.Requests != 3 || o.Admitted != 0 || o.InputTokens != 0 {
		t.Errorf("ledger without a model = %+v, want 3 requests, none admitted", o)
	}

	metrics := string(get(t, g.AdminURL+"/metrics").Body)
	for _, line := range []string{
		`gantry_llm_tokens_total{kind="input",model="gpt-4.1",route="chat"} 1007`,
		`gantry_llm_tokens_total{kind="output",model="gpt-4.1",route="chat"} 253`,
		`gantry_llm_tokens_total{kind="input",model="claude-sonnet-4",route="messages"} 4055`,
		`gantry_llm_requests_total{model="other",route="chat",status="403"} 2`,
		`gantry_llm_time_to_first_token_seconds_count{model="gpt-4o-mini"} 1`,
	} {
		if !containsLine(metrics, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestLLMTokenBucketAdmitsThree: a consumer with a 1,000-token bucket
// making requests of 400 tokens each is admitted for the first three and
// refused on the fourth, with the contract's 429 and token headers.
func TestLLMTokenBucketAdmitsThree(t *testing.T) {
	counters := map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "" },
		"redis": func(t *testing.T) string {
			url := redisURL(t)
			return fmt.Sprintf("counters: {driver: redis, redis_url: %q, key_prefix: %q}\n", url, redisPrefix(t, url))
		},
	}
	for name, sections := range counters {
		t.Run(name, func(t *testing.T) { tokenBucketAdmitsThree(t, sections(t)) })
	}
}

func tokenBucketAdmitsThree(t *testing.T, sections string) {
	api := newLLMAPI(t)
	g := testkit.Start(t, llmConfig(sections, "    token_limit: {tokens: 1000, per: 1h}", api.URL))
	ask := llmAsk{path: "/v1/messages", model: "claude-sonnet-4", stream: true, in: 300, out: 100}
	for i, wantRemaining := range []string{"1000", "600", "200"} {
		r := ask.send(t, g)
		if r.Status != 200 {
			t.Fatalf("request %d: %d %s, want 200", i+1, r.Status, r.Body)
		}
		if got := r.Header.Get("X-Ratelimit-Remaining-Tokens"); got != wantRemaining {
			t.Errorf("request %d: X-RateLimit-Remaining-Tokens = %q, want %s", i+1, got, wantRemaining)
		}
	}
	r := ask.send(t, g)
	if r.Status != 429 || r.gwError(t).Error != "rate_limited" {
		t.Fatalf("request 4: %d %s, want 429 rate_limited", r.Status, r.Body)
	}
	// 1,200 of 1,000 taken: 201 tokens must come back, 3.6 s each.
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 700 || ra > 725 {
		t.Errorf("Retry-After = %q, want about 724 s", r.Header.Get("Retry-After"))
	}
	if r.Header.Get("X-Ratelimit-Limit-Tokens") != "1000" || r.Header.Get("X-Ratelimit-Remaining-Tokens") != "0" {
		t.Errorf("token headers %q / %q, want 1000 / 0", r.Header.Get("X-Ratelimit-Limit-Tokens"), r.Header.Get("X-Ratelimit-Remaining-Tokens"))
	}
	if n := len(api.Calls()); n != 3 {
		t.Errorf("the upstream saw %d requests, want 3", n)
	}
}

// TestLLMTokenQuota: the calendar token quota refuses with quota_exceeded
// once its tokens are used.
func TestLLMTokenQuota(t *testing.T) {
	api := newLLMAPI(t)
	g := testkit.Start(t, llmConfig("", "    token_quota: {tokens: 500, per: month}", api.URL))
	ask := llmAsk{path: "/v1/chat/completions", model: "gpt-4.1", in: 200, out: 100}
	for i := range 2 {
		if r := ask.send(t, g); r.Status != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := ask.send(t, g)
	if r.Status != 429 || r.gwError(t).Error != "quota_exceeded" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("request 3: %d %s, want 429 quota_exceeded with Retry-After", r.Status, r.Body)
	}
}

// TestLLMDisconnectMidStream: a client that goes away mid-stream is
// charged what the upstream reported until then: an Anthropic stream's
// input tokens and first output token (message_start), and nothing for
// an OpenAI stream, which reports its usage only at its end.
func TestLLMDisconnectMidStream(t *testing.T) {
	api := newLLMAPI(t)
	g := testkit.Start(t, llmConfig(fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\n", filepath.Join(t.TempDir(), "gantry.db")),
		"    token_limit: {tokens: 1000000, per: 1m}", api.URL))
	for _, path := range []string{"/v1/messages", "/v1/chat/completions"} {
		model := map[string]string{"/v1/messages": "claude-sonnet-4", "/v1/chat/completions": "gpt-4o-mini"}[path]
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"model":%q,"stream":true,"messages":[{"role":"user","content":"hang"}]}`, model)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, llmKey, len(body), body)
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		// Read until the first event arrived, then hang up.
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: reading the stream: %v", path, err)
			}
			if strings.Contains(line, "data: ") {
				break
			}
		}
		c.Close()
		select {
		case <-api.gone:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the upstream's stream was not closed after the client left", path)
		}
	}
	got := waitModelUsage(t, g, 2)
	// The stand-in's default: 10 input tokens; message_start reports 1
	// output token.
	if c := got["claude-sonnet-4"]; c.Requests != 1 || c.InputTokens != 10 || c.OutputTokens != 1 {
		t.Errorf("anthropic stream cut short: ledger %+v, want 10 input and 1 output token", c)
	}
	if o := got["gpt-4o-mini"]; o.Requests != 1 || o.InputTokens != 0 || o.OutputTokens != 0 {
		t.Errorf("openai stream cut short: ledger %+v, want no tokens", o)
	}
}
