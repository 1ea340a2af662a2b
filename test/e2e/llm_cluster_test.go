package e2e

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store/storetest"
	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestLLMLedgerExactTwoNodes: 1,000 mixed requests (OpenAI and Anthropic,
// streamed and not, three models) on two gateways sharing Redis and
// PostgreSQL: the ledger's tokens equal what the stand-in reported, to the
// token, and the invoice equals the sum computed here.
func TestLLMLedgerExactTwoNodes(t *testing.T) {
	url := redisURL(t)
	prefix := redisPrefix(t, url)
	api := newLLMAPI(t)
	sections := fmt.Sprintf("counters: {driver: redis, redis_url: %q, key_prefix: %q}\nstorage: {driver: postgres, dsn: %q}\n",
		url, prefix, storetest.PostgresDSN(t))
	cfg := llmConfig(sections, "    token_limit: {tokens: 1000000000, per: 1m}\n    token_quota: {tokens: 1000000000, per: month}", api.URL)
	nodes := []*testkit.Gantry{testkit.Start(t, cfg), testkit.Start(t, cfg)}

	const total = 1000
	kinds := []llmAsk{
		{path: "/v1/chat/completions", model: "gpt-4o-mini"},
		{path: "/v1/chat/completions", model: "gpt-4.1", stream: true},
		{path: "/v1/chat/completions", model: "gpt-4o-mini", stream: true, includeUsage: true},
		{path: "/v1/messages", model: "claude-sonnet-4"},
		{path: "/v1/messages", model: "claude-sonnet-4", stream: true},
	}
	rng := rand.New(rand.NewPCG(18, 2026))
	asks := make([]llmAsk, total)
	want := map[string]*llmUsage{}
	for i := range asks {
		a := kinds[i%len(kinds)]
		a.in, a.out = 1+rng.Int64N(5000), 1+rng.Int64N(2000)
		asks[i] = a
		w := want[a.model]
		if w == nil {
			w = &llmUsage{Model: a.model}
			want[a.model] = w
		}
		w.Requests++
		w.Admitted++
		w.InputTokens += a.in
		w.OutputTokens += a.out
	}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for worker := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := nodes[worker%2]
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				if r := asks[i].send(t, g); r.Status != 200 {
					if failed.Add(1) == 1 {
						t.Errorf("request %d: %d %s", i, r.Status, r.Body)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests failed", n)
	}
	got := waitModelUsage(t, nodes[1], total)
	for model, w := range want {
		if g := got[model]; g != *w {
			t.Errorf("ledger for %s = %+v, want %+v", model, g, *w)
		}
	}

	// The invoice, computed independently with exact rationals.
	prices := map[string][2]string{"gpt-4o-mini": {"0.15", "0.60"}, "gpt-4.1": {"2.00", "8.00"}, "claude-sonnet-4": {"3.00", "15.00"}}
	sum := rat("49.00")
	wantLines := map[string]string{}
	for model, p := range prices {
		w := want[model]
		amount := new(big.Rat).Add(new(big.Rat).Mul(big.NewRat(w.InputTokens, 1), rat(p[0])), new(big.Rat).Mul(big.NewRat(w.OutputTokens, 1), rat(p[1])))
		amount.Quo(amount, big.NewRat(1_000_000, 1))
		cents := roundCents(amount)
		wantLines[model] = cents.FloatString(2)
		sum.Add(sum, cents)
	}
	status, body := nodes[0].Admin("GET", "/admin/invoices/acme", "")
	if status != 200 {
		t.Fatalf("/admin/invoices/acme: %d %s", status, body)
	}
	var inv struct {
		Lines []struct {
			Item         string `json:"item"`
			Model        string `json:"model"`
			InputTokens  int64  `json:"input_tokens"`
			OutputTokens int64  `json:"output_tokens"`
			Amount       string `json:"amount"`
		} `json:"lines"`
		Total string `json:"total"`
	}
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatalf("invoice %s: %v", body, err)
	}
	if inv.Total != sum.FloatString(2) {
		t.Errorf("invoice total %s, want %s\n%s", inv.Total, sum.FloatString(2), body)
	}
	seen := 0
	for _, l := range inv.Lines {
		if l.Item != "tokens" {
			continue
		}
		seen++
		if l.Amount != wantLines[l.Model] || l.InputTokens != want[l.Model].InputTokens || l.OutputTokens != want[l.Model].OutputTokens {
			t.Errorf("invoice line %+v, want amount %s for %+v", l, wantLines[l.Model], want[l.Model])
		}
	}
	if seen != len(prices) {
		t.Errorf("invoice has %d token lines, want %d: %s", seen, len(prices), body)
	}
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// roundCents rounds a non-negative amount to the cent, half up.
func roundCents(r *big.Rat) *big.Rat {
	c := new(big.Rat).Mul(r, big.NewRat(100, 1))
	c.Add(c, big.NewRat(1, 2))
	n := new(big.Int).Quo(c.Num(), c.Denom())
	return new(big.Rat).SetFrac(n, big.NewInt(100))
}

// TestLLMTokenLimitAcrossNodes: three gateways sharing Redis admit a
// consumer's token budget to within 1%: requests are admitted while the
// bucket holds tokens, and refused once the spent tokens reach it, however
// the requests spread over the nodes.
func TestLLMTokenLimitAcrossNodes(t *testing.T) {
	url := redisURL(t)
	prefix := redisPrefix(t, url)
	api := newLLMAPI(t)
	const budget = 30000
	cfg := llmConfig(fmt.Sprintf("counters: {driver: redis, redis_url: %q, key_prefix: %q}\n", url, prefix),
		fmt.Sprintf("    token_limit: {tokens: %d, per: 24h}", budget), api.URL)
	nodes := []*testkit.Gantry{testkit.Start(t, cfg), testkit.Start(t, cfg), testkit.Start(t, cfg)}
	// 40 tokens a request; two clients per node.
	ask := llmAsk{path: "/v1/chat/completions", model: "gpt-4o-mini", stream: true, in: 30, out: 10}
	var spent, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := nodes[c%3]
			for misses := 0; misses < 3; {
				switch r := ask.send(t, g); r.Status {
				case 200:
					spent.Add(ask.in + ask.out)
				case 429:
					refused.Add(1)
					misses++
				default:
					t.Errorf("status %d %s", r.Status, r.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	// The bucket refills 30,000 tokens a day: count what came back while
	// the test ran.
	refill := float64(budget) * time.Since(start).Seconds() / 86400
	got, lo, hi := float64(spent.Load()), float64(budget), (float64(budget)+refill)*1.01
	t.Logf("admitted %v tokens of a %d budget (+%.1f refilled), %d refusals", got, budget, refill, refused.Load())
	if got < lo || got > hi {
		t.Fatalf("admitted %v tokens, want within 1%% of %d: [%v, %v]", got, budget, lo, hi)
	}
	if int64(len(api.Calls()))*(ask.in+ask.out) != spent.Load() {
		t.Fatalf("the upstream saw %d requests, the clients %d admitted", len(api.Calls()), spent.Load()/(ask.in+ask.out))
	}
}
