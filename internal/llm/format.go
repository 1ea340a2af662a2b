package llm

import "strings"

// Format says where the model and the usage are.
type Format uint8

// The formats.
const (
	// OpenAI is the Chat Completions format: usage.prompt_tokens and
	// usage.completion_tokens; a stream reports usage in its last chunk
	// when the request set stream_options.include_usage.
	OpenAI Format = iota + 1
	// Anthropic is the Messages format: usage.input_tokens and
	// usage.output_tokens; a stream reports input tokens in message_start
	// and cumulative output tokens in message_delta.
	Anthropic
)

// ParseFormat reads openai or anthropic (routes[].llm.format).
func ParseFormat(s string) (Format, bool) {
	switch s {
	case "openai":
		return OpenAI, true
	case "anthropic":
		return Anthropic, true
	}
	return 0, false
}

// String returns openai or anthropic.
func (f Format) String() string {
	switch f {
	case OpenAI:
		return "openai"
	case Anthropic:
		return "anthropic"
	}
	return "invalid"
}

// Usage is what an answer reported.
type Usage struct {
	// Input counts the prompt's tokens, cached ones included: OpenAI's
	// prompt_tokens; Anthropic's input_tokens plus
	// cache_creation_input_tokens and cache_read_input_tokens.
	Input int64
	// Output counts the generated tokens: completion_tokens or
	// output_tokens.
	Output int64
	// Cached counts the input tokens read from the provider's prompt
	// cache: prompt_tokens_details.cached_tokens or
	// cache_read_input_tokens.
	Cached int64
	// Reported is set once the answer reported any usage.
	Reported bool
}

// Total is Input + Output.
func (u Usage) Total() int64 { return u.Input + u.Output }

// EventStream reports whether a Content-Type is text/event-stream.
func EventStream(contentType string) bool {
	v := contentType
	for i := 0; i < len(v); i++ {
		if v[i] == ';' {
			v = v[:i]
			break
		}
	}
	return strings.EqualFold(strings.TrimSpace(v), "text/event-stream")
}
