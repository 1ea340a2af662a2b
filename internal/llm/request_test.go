package llm

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestPrepare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		f         Format
		body      string
		maxTokens int64
		want      string
		wantReq   Request
		wantErr   error
	}{
		{name: "untouched", f: OpenAI, body: `{"model":"gpt-4o-mini","max_tokens":10}`, maxTokens: 1024,
			want: `{"model":"gpt-4o-mini","max_tokens":10}`, wantReq: Request{Model: "gpt-4o-mini"}},
		{name: "max tokens added", f: OpenAI, body: ` { "model" : "gpt-4.1", "messages": [] }`, maxTokens: 1024,
			want: ` {"max_tokens":1024, "model" : "gpt-4.1", "messages": [] }`, wantReq: Request{Model: "gpt-4.1"}},
		{name: "max completion tokens counts", f: OpenAI, body: `{"model":"o3","max_completion_tokens":5}`, maxTokens: 1024,
			want: `{"model":"o3","max_completion_tokens":5}`, wantReq: Request{Model: "o3"}},
		{name: "anthropic ignores max completion tokens", f: Anthropic, body: `{"model":"claude","max_completion_tokens":5}`, maxTokens: 64,
			want: `{"max_tokens":64,"model":"claude","max_completion_tokens":5}`, wantReq: Request{Model: "claude"}},
		{name: "no default", f: Anthropic, body: `{"model":"claude"}`, want: `{"model":"claude"}`, wantReq: Request{Model: "claude"}},
		{name: "stream asks for usage", f: OpenAI, body: `{"model":"m","stream":true}`,
			want: `{"stream_options":{"include_usage":true},"model":"m","stream":true}`, wantReq: Request{Model: "m", Stream: true, StripUsage: true}},
		{name: "stream and max tokens", f: OpenAI, body: `{"model":"m","stream":true}`, maxTokens: 7,
			want: `{"max_tokens":7,"stream_options":{"include_usage":true},"model":"m","stream":true}`, wantReq: Request{Model: "m", Stream: true, StripUsage: true}},
		{name: "client asked for usage", f: OpenAI, body: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
			want: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, wantReq: Request{Model: "m", Stream: true}},
		{name: "client said no usage", f: OpenAI, body: `{"model":"m","stream":true,"stream_options":{"include_usage":false},"n":1}`,
			want: `{"model":"m","stream":true,"stream_options":{"include_usage":true},"n":1}`, wantReq: Request{Model: "m", Stream: true, StripUsage: true}},
		{name: "stream options null", f: OpenAI, body: `{"stream_options":null,"model":"m","stream":true}`,
			want: `{"stream_options":{"include_usage":true},"model":"m","stream":true}`, wantReq: Request{Model: "m", Stream: true, StripUsage: true}},
		{name: "anthropic stream untouched", f: Anthropic, body: `{"model":"c","stream":true,"max_tokens":3}`,
			want: `{"model":"c","stream":true,"max_tokens":3}`, wantReq: Request{Model: "c", Stream: true}},
		{name: "stream false", f: OpenAI, body: `{"model":"m","stream":false}`, want: `{"model":"m","stream":false}`, wantReq: Request{Model: "m"}},
		{name: "last model wins", f: OpenAI, body: `{"model":"a","model":"b"}`, want: `{"model":"a","model":"b"}`, wantReq: Request{Model: "b"}},
		{name: "not json", f: OpenAI, body: `model=gpt`, wantErr: ErrNotJSON},
		{name: "array", f: OpenAI, body: `[{"model":"m"}]`, wantErr: ErrNotJSON},
		{name: "trailing data", f: OpenAI, body: `{"model":"m"} {}`, wantErr: ErrNotJSON},
		{name: "truncated", f: OpenAI, body: `{"model":"m"`, wantErr: ErrNotJSON},
		{name: "empty", f: OpenAI, body: ``, wantErr: ErrNotJSON},
		{name: "no model", f: OpenAI, body: `{"messages":[]}`, wantErr: ErrNoModel},
		{name: "model not a string", f: Anthropic, body: `{"model":4}`, wantErr: ErrNoModel},
		{name: "empty model", f: OpenAI, body: `{"model":""}`, wantErr: ErrNoModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, out, err := Prepare(tt.f, []byte(tt.body), tt.maxTokens)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Prepare() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare() error = %v", err)
			}
			if string(out) != tt.want {
				t.Errorf("Prepare() body = %s, want %s", out, tt.want)
			}
			if req != tt.wantReq {
				t.Errorf("Prepare() request = %+v, want %+v", req, tt.wantReq)
			}
		})
	}
}

func FuzzPrepare(f *testing.F) {
	for _, s := range []string{`{"model":"m"}`, `{"model":"m","stream":true}`, `{"model":"m","stream":true,"stream_options":{"x":1}}`,
		`{"stream_options":null,"model":"m","stream":true,"max_tokens":1}`, `[]`, `{`, `{"model":"\u0041"}`} {
		f.Add(s, uint8(1), int64(100))
		f.Add(s, uint8(2), int64(0))
	}
	f.Fuzz(func(t *testing.T, body string, fm uint8, maxTokens int64) {
		format := Format(fm%2 + 1)
		req, out, err := Prepare(format, []byte(body), maxTokens)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("Prepare(%q) = %q, not JSON: %v", body, out, err)
		}
		var model string
		if err := json.Unmarshal(m["model"], &model); err != nil || model != req.Model || model == "" {
			t.Fatalf("Prepare(%q) model %q, body says %s", body, req.Model, m["model"])
		}
		if maxTokens > 0 && m["max_tokens"] == nil && (format == Anthropic || m["max_completion_tokens"] == nil) {
			t.Fatalf("Prepare(%q, %d) = %q, no max_tokens", body, maxTokens, out)
		}
		if format == OpenAI && req.Stream {
			var so struct {
				IncludeUsage bool `json:"include_usage"`
			}
			if err := json.Unmarshal(m["stream_options"], &so); err != nil || !so.IncludeUsage {
				t.Fatalf("Prepare(%q) = %q, stream without include_usage", body, out)
			}
		}
	})
}
