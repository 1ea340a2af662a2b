package llm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// feedIn feeds body to a in pieces of size n (the whole body for n <= 0)
// and returns what it relayed.
func feedIn(a *Answer, body []byte, n int) []byte {
	var out []byte
	if n <= 0 {
		n = len(body) + 1
	}
	for len(body) > 0 {
		k := min(n, len(body))
		out = append(out, a.Feed(body[:k])...)
		body = body[k:]
	}
	return append(out, a.End()...)
}

const openaiStream = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n" +
	": keep-alive\n\n" +
	"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\n" +
	"data: [DONE]\n\n"

const anthropicStream = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\r\n\r\n" +
	"event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage\"}}\r\n\r\n" +
	"event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\r\n\r\n" +
	"event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"

func TestAnswer(t *testing.T) {
	t.Parallel()
	usageEvent := "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\n"
	tests := []struct {
		name          string
		f             Format
		stream, strip bool
		body          string
		wantOut       string
		want          Usage
	}{
		{name: "openai json", f: OpenAI,
			body: `{"id":"c1","choices":[{"message":{"content":"{\"usage\":{\"prompt_tokens\":99}}"},"usage":{"prompt_tokens":98}}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`,
			want: Usage{Input: 7, Output: 3, Reported: true}},
		{name: "openai json cached", f: OpenAI, body: ` {"usage" : {"prompt_tokens":70,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":64}} , "id":"x"}`,
			want: Usage{Input: 70, Output: 3, Cached: 64, Reported: true}},
		{name: "json without usage", f: OpenAI, body: `{"error":{"message":"usage limit"}}`},
		{name: "json usage null", f: OpenAI, body: `{"usage":null}`},
		{name: "anthropic json", f: Anthropic, body: `{"type":"message","content":[{"type":"text","text":"x"}],"usage":{"input_tokens":10,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":4}}`,
			want: Usage{Input: 15, Output: 4, Cached: 3, Reported: true}},
		{name: "openai stream kept", f: OpenAI, stream: true, body: openaiStream, wantOut: openaiStream,
			want: Usage{Input: 12, Output: 34, Cached: 8, Reported: true}},
		{name: "openai stream stripped", f: OpenAI, stream: true, strip: true, body: openaiStream,
			wantOut: string(bytes.Replace([]byte(openaiStream), []byte(usageEvent), nil, 1)),
			want:    Usage{Input: 12, Output: 34, Cached: 8, Reported: true}},
		{name: "usage in a content chunk is not stripped", f: OpenAI, stream: true, strip: true,
			body:    "data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
			wantOut: "data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
			want:    Usage{Input: 1, Output: 2, Reported: true}},
		{name: "unfinished event relayed at the end", f: OpenAI, stream: true, strip: true,
			body: "data: {\"choices\":[]}\n\ndata: {\"cho", wantOut: "data: {\"choices\":[]}\n\ndata: {\"cho"},
		{name: "anthropic stream", f: Anthropic, stream: true, strip: true, body: anthropicStream, wantOut: anthropicStream,
			want: Usage{Input: 30, Output: 15, Cached: 5, Reported: true}},
		{name: "byte order mark", f: Anthropic, stream: true,
			body: "\xef\xbb\xbfdata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n", wantOut: "\xef\xbb\xbfdata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n",
			want: Usage{Output: 9, Reported: true}},
		{name: "not a byte order mark", f: Anthropic, stream: true,
			body: "\xef\xbbdata: {\"usage\":{\"output_tokens\":9}}\n\ndata: {\"usage\":{\"output_tokens\":3}}\n\n", wantOut: "\xef\xbbdata: {\"usage\":{\"output_tokens\":9}}\n\ndata: {\"usage\":{\"output_tokens\":3}}\n\n",
			want: Usage{Output: 3, Reported: true}},
		{name: "multi-line data", f: Anthropic, stream: true,
			body: "data: {\"type\":\"message_delta\",\ndata: \"usage\":{\"output_tokens\":5}}\n\n", wantOut: "data: {\"type\":\"message_delta\",\ndata: \"usage\":{\"output_tokens\":5}}\n\n",
			want: Usage{Output: 5, Reported: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantOut := tt.wantOut
			if !tt.stream {
				wantOut = tt.body
			}
			for n := 0; n <= len(tt.body); n++ {
				a := NewAnswer(tt.f, tt.stream, tt.strip)
				out := feedIn(a, []byte(tt.body), n)
				if string(out) != wantOut {
					t.Fatalf("pieces of %d: relayed %q, want %q", n, out, wantOut)
				}
				if got := a.Usage(); got != tt.want {
					t.Fatalf("pieces of %d: Usage() = %+v, want %+v", n, got, tt.want)
				}
			}
		})
	}
}

// TestAnswerPartialStream: a stream cut short reports what it reported
// so far.
func TestAnswerPartialStream(t *testing.T) {
	t.Parallel()
	cut := anthropicStream[:bytes.Index([]byte(anthropicStream), []byte("event: message_delta"))]
	a := NewAnswer(Anthropic, true, false)
	feedIn(a, []byte(cut), 7)
	if got, want := a.Usage(), (Usage{Input: 30, Output: 1, Cached: 5, Reported: true}); got != want {
		t.Errorf("Usage() = %+v, want %+v", got, want)
	}
	o := NewAnswer(OpenAI, true, true)
	feedIn(o, []byte(openaiStream[:len(openaiStream)/2]), 5)
	if got := o.Usage(); got.Reported {
		t.Errorf("Usage() = %+v, want none reported", got)
	}
}

func FuzzAnswerStream(f *testing.F) {
	f.Add([]byte(openaiStream), uint8(3), true)
	f.Add([]byte(anthropicStream), uint8(1), false)
	f.Add([]byte("data: x\r\rdata: [DONE]\r\n\n"), uint8(2), true)
	f.Fuzz(func(t *testing.T, body []byte, piece uint8, strip bool) {
		for _, format := range []Format{OpenAI, Anthropic} {
			whole := NewAnswer(format, true, strip)
			want := feedIn(whole, body, 0)
			split := NewAnswer(format, true, strip)
			got := feedIn(split, body, int(piece))
			if !bytes.Equal(got, want) {
				t.Fatalf("%v: pieces of %d relayed %q, whole %q", format, piece, got, want)
			}
			if split.Usage() != whole.Usage() {
				t.Fatalf("%v: pieces of %d: usage %+v, whole %+v", format, piece, split.Usage(), whole.Usage())
			}
			if (!strip || format != OpenAI) && !bytes.Equal(got, body) {
				t.Fatalf("%v: relayed %q, want the body unchanged", format, got)
			}
			if len(got) > len(body) {
				t.Fatalf("%v: relayed %d bytes of %d", format, len(got), len(body))
			}
		}
	})
}

func FuzzAnswerJSON(f *testing.F) {
	f.Add([]byte(`{"usage":{"prompt_tokens":7,"completion_tokens":3}}`), uint8(2))
	f.Add([]byte(`{"a":"\"usage\":","usage":{"input_tokens":1},"b":[{"usage":2}]}`), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, piece uint8) {
		for _, format := range []Format{OpenAI, Anthropic} {
			a := NewAnswer(format, false, true)
			if out := feedIn(a, body, int(piece)); !bytes.Equal(out, body) {
				t.Fatalf("relayed %q, want %q", out, body)
			}
			got := a.Usage()
			// For valid JSON, the scanner must agree with encoding/json.
			var doc map[string]json.RawMessage
			if json.Unmarshal(body, &doc) != nil || bytes.Count(body, usageWord) != 1 {
				continue
			}
			want, _ := ParseUsage(format, doc["usage"])
			if got != want {
				t.Fatalf("%v: Usage() = %+v, encoding/json finds %+v in %q", format, got, want, body)
			}
		}
	})
}

func TestParseUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		f      Format
		raw    string
		want   Usage
		wantOK bool
	}{
		{name: "openai", f: OpenAI, raw: `{"prompt_tokens":5,"completion_tokens":6}`, want: Usage{Input: 5, Output: 6, Reported: true}, wantOK: true},
		{name: "openai negative", f: OpenAI, raw: `{"prompt_tokens":-5,"completion_tokens":6}`, want: Usage{Output: 6, Reported: true}, wantOK: true},
		{name: "anthropic empty", f: Anthropic, raw: `{}`},
		{name: "not an object", f: OpenAI, raw: `7`},
		{name: "bad types", f: OpenAI, raw: `{"prompt_tokens":"5"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseUsage(tt.f, []byte(tt.raw))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseUsage(%s) = %+v, %v; want %+v, %v", tt.raw, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
