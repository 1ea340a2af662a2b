package demo

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestLLMStandIn(t *testing.T) {
	s := startTest(t)
	post := func(t *testing.T, body string) *http.Response {
		t.Helper()
		resp, err := http.Post("http://"+s.Addrs.LLM+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	tests := []struct {
		name       string
		body       string
		wantEvents int // 0: a whole answer
		wantUsage  *chatUsage
	}{
		{name: "whole answer, default length", body: `{"model":"demo-mini","messages":[{"role":"user","content":"Say hello to me"}]}`,
			wantUsage: &chatUsage{PromptTokens: 4, CompletionTokens: 16, TotalTokens: 20}},
		{name: "whole answer, max_tokens", body: `{"model":"demo-large","max_tokens":40,"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Hi"}]}`,
			wantUsage: &chatUsage{PromptTokens: 3, CompletionTokens: 40, TotalTokens: 43}},
		{name: "stream without usage", body: `{"model":"demo-mini","stream":true,"max_tokens":3,"messages":[{"role":"user","content":"Hi"}]}`,
			wantEvents: 3 + 1 + 1},
		{name: "stream with usage", body: `{"model":"demo-mini","stream":true,"max_tokens":3,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi there"}]}`,
			wantEvents: 3 + 1 + 1 + 1, wantUsage: &chatUsage{PromptTokens: 2, CompletionTokens: 3, TotalTokens: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tt.wantEvents == 0 {
				var out struct{ Usage chatUsage }
				if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
					t.Fatal(err)
				}
				if out.Usage != *tt.wantUsage {
					t.Errorf("usage %+v, want %+v", out.Usage, *tt.wantUsage)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("Content-Type %q", ct)
			}
			var events []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					events = append(events, d)
				}
			}
			if len(events) != tt.wantEvents || events[len(events)-1] != "[DONE]" {
				t.Fatalf("events %q, want %d ending with [DONE]", events, tt.wantEvents)
			}
			var last struct{ Usage *chatUsage }
			json.Unmarshal([]byte(events[len(events)-2]), &last)
			if (last.Usage == nil) != (tt.wantUsage == nil) || last.Usage != nil && *last.Usage != *tt.wantUsage {
				t.Errorf("usage chunk %v, want %v", last.Usage, tt.wantUsage)
			}
		})
	}
	if resp := post(t, `not json`); resp.StatusCode != 400 {
		t.Errorf("a body that is not JSON: status %d, want 400", resp.StatusCode)
	}
}
