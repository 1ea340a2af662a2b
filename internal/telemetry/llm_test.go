package telemetry

import (
	"strings"
	"testing"
	"time"
)

func TestLLMMetrics(t *testing.T) {
	m := NewMetrics()
	rm := m.Route("chat")
	rm.LLM("gpt-4.1", 200, true, 1200, 345, 1024, 180*time.Millisecond)
	rm.LLM("gpt-4.1", 200, true, 100, 5, 0, 2*time.Second)
	rm.LLM("other", 403, false, 0, 0, 0, 0)
	// Not admitted: the tokens are not counted.
	rm.LLM("gpt-4.1", 429, false, 50, 50, 0, 0)
	got, _ := scrape(t, m)
	tests := []struct{ series, want string }{
		{`gantry_llm_tokens_total{kind="input",model="gpt-4.1",route="chat"}`, "1300"},
		{`gantry_llm_tokens_total{kind="output",model="gpt-4.1",route="chat"}`, "350"},
		{`gantry_llm_tokens_total{kind="cached",model="gpt-4.1",route="chat"}`, "1024"},
		{`gantry_llm_requests_total{model="gpt-4.1",route="chat",status="200"}`, "2"},
		{`gantry_llm_requests_total{model="gpt-4.1",route="chat",status="429"}`, "1"},
		{`gantry_llm_requests_total{model="other",route="chat",status="403"}`, "1"},
		{`gantry_llm_time_to_first_token_seconds_count{model="gpt-4.1"}`, "2"},
		{`gantry_llm_time_to_first_token_seconds_bucket{model="gpt-4.1",le="0.25"}`, "1"},
	}
	for _, tt := range tests {
		if v, ok := got[tt.series]; !ok {
			t.Errorf("series %s missing", tt.series)
		} else if v != tt.want {
			t.Errorf("%s = %s, want %s", tt.series, v, tt.want)
		}
	}
	if _, ok := got[`gantry_llm_time_to_first_token_seconds_count{model="other"}`]; ok {
		t.Error("a refused request observed a time to first token")
	}

	// A reload that drops the route deletes its token and request series.
	m.RetainRoutes(nil)
	got, _ = scrape(t, m)
	for k := range got {
		if strings.HasPrefix(k, "gantry_llm_tokens_total") || strings.HasPrefix(k, "gantry_llm_requests_total") {
			t.Errorf("series %s left after the route was removed", k)
		}
	}
	rm.LLM("gpt-4.1", 200, true, 1, 1, 0, time.Millisecond)
	if got, _ = scrape(t, m); got[`gantry_llm_requests_total{model="gpt-4.1",route="chat",status="200"}`] != "" {
		t.Error("a removed route's handle created series again")
	}
}
