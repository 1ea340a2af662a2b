package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The stand-in LLM API's limits.
const (
	// llmMaxTokens caps max_tokens: the stand-in writes one token per
	// requested output token.
	llmMaxTokens = 4096
	// llmDefaultTokens is the answer's length without max_tokens.
	llmDefaultTokens = 16
	// llmTokenDelay paces a streamed answer, as a model generates it.
	llmTokenDelay = 20 * time.Millisecond
)

// llmReply is what the stand-in says, one word a token, repeated as long
// as max_tokens asks.
var llmReply = strings.Fields("This answer comes from the Gantry demo's stand-in for an OpenAI-compatible API; " +
	"the gateway counted its tokens on the way to you.")

// newLLM returns a stand-in for an OpenAI-compatible Chat Completions API
// at /v1/chat/completions (and /chat/completions): it answers any model,
// with max_tokens words (16 without it), whole or as a server-sent events
// stream, and reports the tokens it used as OpenAI does: a prompt token
// per word of the messages, an output token per word of the answer, in
// usage, and for a stream in a last chunk when the request set
// stream_options.include_usage.
func newLLM() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("POST /v1/chat/completions", chatCompletions)
	mux.HandleFunc("POST /chat/completions", chatCompletions)
	return mux
}

// chatRequest is the part of a Chat Completions request the stand-in
// reads.
type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	MaxTokens     int    `json:"max_tokens"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "want a JSON body with a model and messages")
		return
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
	}
	n := req.MaxTokens
	if n <= 0 {
		n = llmDefaultTokens
	}
	n = min(n, llmMaxTokens)
	words := make([]string, n)
	for i := range words {
		words[i] = llmReply[i%len(llmReply)]
	}
	usage := chatUsage{PromptTokens: prompt, CompletionTokens: n, TotalTokens: prompt + n}
	id := "chatcmpl-demo"
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "length",
				"message": map[string]string{"role": "assistant", "content": strings.Join(words, " ")}}},
			"usage": usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	event := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		rc.Flush()
	}
	chunk := func(delta map[string]string, finish any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	t := time.NewTicker(llmTokenDelay)
	defer t.Stop()
	for i, word := range words {
		if i > 0 {
			word = " " + word
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
		}
		event(chunk(map[string]string{"content": word}, nil))
	}
	event(chunk(map[string]string{}, "length"))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		event(map[string]any{"id": id, "object": "chat.completion.chunk", "model": req.Model, "choices": []any{}, "usage": usage})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}
