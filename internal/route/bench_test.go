package route

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// BenchmarkTimeToFirstToken measures the time from sending a streaming
// chat request to reading its first event, through a gateway on loopback
// whose relay is httputil.ReverseProxy, without (plain) and with the
// route's llm step (llm: the body read, max_tokens and stream_options set,
// the token bucket checked, the stream read as it passes, the usage chunk
// removed). One iteration sends one request each way. It reports the p50
// and p99 of both, and added-p99-µs: what the llm step adds to the 99th
// percentile of the time to first token. On a loaded machine that
// difference is mostly scheduling noise; step-added-p99-µs measures the
// step's request side inside the gateway (the time to reach the relay,
// with the step and without), and BenchmarkFeed in package llm its cost
// per relayed event.
//
//	go test ./internal/route -run '^$' -bench TimeToFirstToken -benchtime 5000x
func BenchmarkTimeToFirstToken(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\n")
		http.NewResponseController(w).Flush()
		io.WriteString(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n")
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	relay := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	// reached records, per request, how long after the gateway received
	// it the terminal was reached: what the steps before it cost.
	var mu sync.Mutex
	reached := map[bool][]time.Duration{}
	terminal := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		x := pipeline.ExchangeOf(r)
		d := time.Since(x.Start)
		mu.Lock()
		reached[x.LLM != nil] = append(reached[x.LLM != nil], d)
		mu.Unlock()
		relay.ServeHTTP(w, r)
		return nil
	})
	withLLM, _ := llmRoute(b, &config.Plan{TokenLimit: &config.TokenLimit{Tokens: 1 << 50, Per: config.Duration(time.Minute)}},
		&config.LLM{Format: "openai", Models: []string{"gpt-4o-mini"}, MaxTokensDefault: 1024}, terminal)

	gateway := func(h pipeline.Handler) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			x := &pipeline.Exchange{Start: time.Now(), Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro"}}
			if err := h.ServeHTTP(w, r.WithContext(pipeline.WithExchange(r.Context(), x))); err != nil {
				http.Error(w, err.Error(), 500)
			}
		}))
	}
	plain, llm := gateway(terminal), gateway(withLLM)
	defer plain.Close()
	defer llm.Close()
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}`
	first := func(gw *httptest.Server) time.Duration {
		start := time.Now()
		res, err := gw.Client().Post(gw.URL, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		br := bufio.NewReader(res.Body)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "data: ") {
			b.Fatalf("first line %q: %v", line, err)
		}
		d := time.Since(start)
		io.Copy(io.Discard, br)
		res.Body.Close()
		return d
	}
	// The two relays take turns, so that both see the same noise of a
	// shared machine.
	var tp, tl []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		tp = append(tp, first(plain))
		tl = append(tl, first(llm))
	}
	q := func(ds []time.Duration, p float64) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[int(p*float64(len(ds)-1))].Microseconds())
	}
	b.ReportMetric(q(tp, 0.50), "plain-p50-µs")
	b.ReportMetric(q(tp, 0.99), "plain-p99-µs")
	b.ReportMetric(q(tl, 0.50), "llm-p50-µs")
	b.ReportMetric(q(tl, 0.99), "llm-p99-µs")
	b.ReportMetric(q(tl, 0.99)-q(tp, 0.99), "added-p99-µs")
	// In the gateway, without the network: the llm step's request side
	// (read, rewrite, token check) as the time to reach the terminal.
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(q(reached[true], 0.99)-q(reached[false], 0.99), "step-added-p99-µs")
}
