package llm

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkFeed reads a Chat Completions stream of 100 content chunks and
// its usage chunk, as a relay passes it on in 200-byte writes: with the
// usage chunk kept (strip=false, the bytes only observed) and removed
// (strip=true, each event held until it ends).
func BenchmarkFeed(b *testing.B) {
	var sb strings.Builder
	for i := range 100 {
		fmt.Fprintf(&sb, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token %d\"}}],\"usage\":null}\n\n", i)
	}
	sb.WriteString("data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":100}}\n\ndata: [DONE]\n\n")
	events := []byte(sb.String())
	for _, strip := range []bool{false, true} {
		b.Run(fmt.Sprintf("strip=%v", strip), func(b *testing.B) {
			b.SetBytes(int64(len(events)))
			b.ReportAllocs()
			for b.Loop() {
				a := NewAnswer(OpenAI, true, strip)
				for p := events; len(p) > 0; {
					n := min(len(p), 200)
					a.Feed(p[:n])
					p = p[n:]
				}
				if a.Usage().Output != 100 {
					b.Fatal("usage not read")
				}
			}
		})
	}
}

// BenchmarkFeedJSON reads the usage of a whole 16 KiB answer.
func BenchmarkFeedJSON(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("lorem ipsum ", 1365) + `"}}],"usage":{"prompt_tokens":12,"completion_tokens":4000}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		a := NewAnswer(OpenAI, false, false)
		for p := body; len(p) > 0; {
			n := min(len(p), 4096)
			a.Feed(p[:n])
			p = p[n:]
		}
		if a.Usage().Output != 4000 {
			b.Fatal("usage not read")
		}
	}
}
