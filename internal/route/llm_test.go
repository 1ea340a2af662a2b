package route

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// upstreamAnswer is a terminal that checks what it is sent and answers
// like an LLM API.
type upstreamAnswer struct {
	contentType string
	header      http.Header
	body        []string // written one by one, flushed
	sawBody     string
	calls       int
}

func (u *upstreamAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.calls++
	b := new(strings.Builder)
	if r.Body != nil {
		buf := make([]byte, 512)
		for {
			n, err := r.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
	}
	u.sawBody = b.String()
	for k, v := range u.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", u.contentType)
	w.WriteHeader(200)
	for _, p := range u.body {
		w.Write([]byte(p))
		http.NewResponseController(w).Flush()
	}
	return nil
}

func llmRoute(t testing.TB, plan *config.Plan, lc *config.LLM, term pipeline.Handler) (pipeline.Handler, *counter.Memory) {
	t.Helper()
	mem := counter.NewMemory(counter.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	cfg := &config.Config{Plans: map[string]*config.Plan{"pro": plan}}
	mw, err := llmStep(&Env{Config: cfg, Counter: mem}, &config.Route{Name: "chat", Auth: []string{"api_key"}, LLM: lc}, &Route{Name: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	return mw(term), mem
}

func TestLLMStep(t *testing.T) {
	t.Parallel()
	stream := []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":100}}\n\ndata: [DONE]\n\n",
	}
	tests := []struct {
		name      string
		lc        config.LLM
		body      string
		answer    upstreamAnswer
		wantErr   string // the code of the HTTPError
		wantSent  string
		wantOut   string
		wantStats pipeline.LLMStats
	}{
		{name: "openai stream, usage chunk hidden", lc: config.LLM{Format: "openai", Models: []string{"gpt-4.1"}, MaxTokensDefault: 99},
			body:      `{"model":"gpt-4.1","stream":true}`,
			answer:    upstreamAnswer{contentType: "text/event-stream", header: http.Header{"Content-Length": {"999"}, "X-Ratelimit-Limit-Tokens": {"30000000"}}, body: stream},
			wantSent:  `{"max_tokens":99,"stream_options":{"include_usage":true},"model":"gpt-4.1","stream":true}`,
			wantOut:   stream[0] + "data: [DONE]\n\n",
			wantStats: pipeline.LLMStats{Model: "gpt-4.1", InputTokens: 300, OutputTokens: 100, Reported: true}},
		{name: "anthropic json", lc: config.LLM{Format: "anthropic"},
			body:      `{"model":"claude","max_tokens":5}`,
			answer:    upstreamAnswer{contentType: "application/json", body: []string{`{"usage":{"input_tokens":3,`, `"output_tokens":4}}`}},
			wantSent:  `{"model":"claude","max_tokens":5}`,
			wantOut:   `{"usage":{"input_tokens":3,"output_tokens":4}}`,
			wantStats: pipeline.LLMStats{Model: "other", InputTokens: 3, OutputTokens: 4, Reported: true}},
		{name: "model not allowed", lc: config.LLM{Format: "openai", Models: []string{"gpt-4.1"}}, body: `{"model":"gpt-5"}`,
			wantErr: pipeline.CodeModelNotAllowed, wantStats: pipeline.LLMStats{Model: "other"}},
		{name: "no model", lc: config.LLM{Format: "openai"}, body: `{}`, wantErr: pipeline.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _ := llmRoute(t, &config.Plan{TokenLimit: &config.TokenLimit{Tokens: 1000, Per: config.Duration(time.Hour)}}, &tt.lc, &tt.answer)
			x := &pipeline.Exchange{Start: time.Now(), Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro"}}
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(tt.body))
			r = r.WithContext(pipeline.WithExchange(r.Context(), x))
			rec := httptest.NewRecorder()
			err := h.ServeHTTP(rec, r)
			var he *pipeline.HTTPError
			if tt.wantErr != "" {
				if !errors.As(err, &he) || he.Code != tt.wantErr || tt.answer.calls != 0 {
					t.Fatalf("ServeHTTP() = %v after %d upstream calls, want %s before any", err, tt.answer.calls, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if tt.answer.sawBody != tt.wantSent {
					t.Errorf("upstream got %s, want %s", tt.answer.sawBody, tt.wantSent)
				}
				if rec.Body.String() != tt.wantOut {
					t.Errorf("client got %q, want %q", rec.Body.String(), tt.wantOut)
				}
				if got := rec.Header().Get("X-Ratelimit-Limit-Tokens"); got != "1000" {
					t.Errorf("X-RateLimit-Limit-Tokens = %q, want the consumer's 1000", got)
				}
				if got := rec.Header().Get("Content-Length"); got != "" && tt.lc.Format == "openai" {
					t.Errorf("Content-Length %q kept on a stream whose usage chunk was removed", got)
				}
			}
			var got pipeline.LLMStats
			if x.LLM != nil {
				got = *x.LLM
				got.FirstByte = 0
				if tt.wantErr == "" && x.LLM.FirstByte <= 0 {
					t.Errorf("FirstByte = %v, want > 0", x.LLM.FirstByte)
				}
			}
			if got != tt.wantStats {
				t.Errorf("Exchange.LLM = %+v, want %+v", got, tt.wantStats)
			}
		})
	}
}

// TestLLMStepSpends: the tokens an answer reports are taken from the
// consumer's bucket when it ends; a bucket below zero refuses.
func TestLLMStepSpends(t *testing.T) {
	t.Parallel()
	answer := &upstreamAnswer{contentType: "application/json", body: []string{`{"usage":{"prompt_tokens":700,"completion_tokens":200}}`}}
	h, mem := llmRoute(t, &config.Plan{TokenLimit: &config.TokenLimit{Tokens: 1000, Per: config.Duration(time.Hour)}},
		&config.LLM{Format: "openai"}, answer)
	send := func() error {
		x := &pipeline.Exchange{Start: time.Now(), Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro"}}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"model":"m"}`))
		return h.ServeHTTP(httptest.NewRecorder(), r.WithContext(pipeline.WithExchange(r.Context(), x)))
	}
	for i := range 2 {
		if err := send(); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	var he *pipeline.HTTPError
	if err := send(); !errors.As(err, &he) || he.Status != 429 || he.Header.Get("Retry-After") == "" || he.Header.Get("X-Ratelimit-Remaining-Tokens") != "0" {
		t.Fatalf("request 3: %v, want 429 with Retry-After and no tokens left", err)
	}
	var req counter.Request
	req.Add(counter.Bucket{Tag: "acme", Name: "t:pro", Rate: counter.Rate{Requests: 1000, Per: time.Hour, Burst: 1000}})
	if got := mem.Admit(context.Background(), req).Buckets[0].Remaining; got != -800 {
		t.Errorf("bucket balance %d, want -800", got)
	}
}
