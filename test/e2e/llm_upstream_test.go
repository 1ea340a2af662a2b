package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// llmCall is what the stand-in LLM API received.
type llmCall struct {
	Path          string
	Model         string
	Stream        bool
	MaxTokens     int64
	IncludeUsage  bool
	Authorization string
}

// llmAPI is a stand-in for an OpenAI-compatible (/v1/chat/completions)
// and an Anthropic-compatible (/v1/messages) API. The prompt's last
// message says what to report: "in=120 out=34" makes the answer use 120
// input and 34 output tokens; "hang" makes a stream stop after its first
// event and wait until the client is gone.
type llmAPI struct {
	URL   string
	mu    sync.Mutex
	calls []llmCall
	// hung counts streams that waited for their client to go away.
	hung atomic.Int64
	gone chan struct{}
}

var tokensRe = regexp.MustCompile(`in=(\d+) out=(\d+)`)

func newLLMAPI(t *testing.T) *llmAPI {
	t.Helper()
	api := &llmAPI{gone: make(chan struct{}, 16)}
	srv := testkit.Upstream(t, http.HandlerFunc(api.serve))
	api.URL = srv.URL
	return api
}

func (api *llmAPI) Calls() []llmCall {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]llmCall(nil), api.calls...)
}

func (api *llmAPI) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		MaxTokens     int64  `json:"max_tokens"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		http.Error(w, `{"error":{"message":"bad request"}}`, 400)
		return
	}
	call := llmCall{Path: r.URL.Path, Model: req.Model, Stream: req.Stream, MaxTokens: req.MaxTokens,
		IncludeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage, Authorization: r.Header.Get("Authorization")}
	api.mu.Lock()
	api.calls = append(api.calls, call)
	api.mu.Unlock()
	prompt := req.Messages[len(req.Messages)-1].Content
	in, out := int64(10), int64(5)
	if m := tokensRe.FindStringSubmatch(prompt); m != nil {
		in, _ = strconv.ParseInt(m[1], 10, 64)
		out, _ = strconv.ParseInt(m[2], 10, 64)
	}
	hang := prompt == "hang"
	switch {
	case r.URL.Path == "/v1/chat/completions" && !req.Stream:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Ratelimit-Limit-Tokens", "30000000")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"usage is in=1 out=2"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			req.Model, in, out, in+out)
	case r.URL.Path == "/v1/chat/completions":
		w.Header().Set("Content-Type", "text/event-stream")
		fl := http.NewResponseController(w)
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part %d\"}}],\"usage\":null}\n\n", i)
			fl.Flush()
			if hang {
				api.wait(r)
				return
			}
		}
		if call.IncludeUsage {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n", in, out, in+out)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	case r.URL.Path == "/v1/messages" && !req.Stream:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":%d,"output_tokens":%d}}`,
			req.Model, in, out)
	case r.URL.Path == "/v1/messages":
		w.Header().Set("Content-Type", "text/event-stream")
		fl := http.NewResponseController(w)
		fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":%q,\"usage\":{\"input_tokens\":%d,\"output_tokens\":1}}}\n\n", req.Model, in)
		fl.Flush()
		if hang {
			api.wait(r)
			return
		}
		io.WriteString(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n")
		fl.Flush()
		fmt.Fprintf(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":%d}}\n\n", out)
		io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	default:
		http.NotFound(w, r)
	}
}

// wait holds a stream open until its client (the gateway) goes away.
func (api *llmAPI) wait(r *http.Request) {
	api.hung.Add(1)
	select {
	case <-r.Context().Done():
	case <-time.After(20 * time.Second):
	}
	api.gone <- struct{}{}
}
