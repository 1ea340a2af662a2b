package llm

import (
	"bytes"
	"encoding/json"
)

// openaiUsage is OpenAI's usage object.
type openaiUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (o *openaiUsage) usage() Usage {
	u := Usage{Input: max(0, o.PromptTokens), Output: max(0, o.CompletionTokens), Reported: true}
	if d := o.PromptTokensDetails; d != nil {
		u.Cached = max(0, d.CachedTokens)
	}
	return u
}

// anthropicUsage is Anthropic's usage object; in a stream's message_delta
// every member is optional and cumulative.
type anthropicUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// merge sets in u what a carries: the counts are cumulative, so a count
// present replaces the one before.
func (a *anthropicUsage) merge(u *Usage, parts *anthropicParts) {
	set := func(dst *int64, src *int64) {
		if src != nil {
			*dst = max(0, *src)
			u.Reported = true
		}
	}
	set(&parts.input, a.InputTokens)
	set(&parts.creation, a.CacheCreationInputTokens)
	set(&parts.read, a.CacheReadInputTokens)
	set(&u.Output, a.OutputTokens)
	u.Input = parts.input + parts.creation + parts.read
	u.Cached = parts.read
}

// anthropicParts are the input counts Anthropic reports apart.
type anthropicParts struct{ input, creation, read int64 }

// ParseUsage reads a usage object of format f, as found at the top level
// of a whole (not streamed) answer. ok is false when raw is not one.
func ParseUsage(f Format, raw []byte) (Usage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Usage{}, false
	}
	switch f {
	case OpenAI:
		var o openaiUsage
		if json.Unmarshal(raw, &o) != nil {
			return Usage{}, false
		}
		return o.usage(), true
	case Anthropic:
		var a anthropicUsage
		if json.Unmarshal(raw, &a) != nil {
			return Usage{}, false
		}
		var u Usage
		a.merge(&u, &anthropicParts{})
		return u, u.Reported
	}
	return Usage{}, false
}
