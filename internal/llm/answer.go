package llm

import (
	"bytes"
	"encoding/json"
)

// Answer observes one upstream answer of format f as it is relayed. It is
// not safe for concurrent use: one relay feeds it.
type Answer struct {
	f      Format
	stream bool
	// strip removes OpenAI's usage chunk (see Request.StripUsage).
	strip bool

	object objectScanner
	events eventScanner

	usage  Usage
	parts  anthropicParts
	parsed bool

	// pending holds, when stripping, the bytes of the event being read;
	// passing is set when that event grew past maxEvent and now flows
	// through.
	pending []byte
	passing bool
	out     []byte
}

// NewAnswer returns the observer of an answer: an event stream when
// stream is set (its Content-Type is text/event-stream), a JSON object
// otherwise. strip is Request.StripUsage; it applies to OpenAI streams
// only.
func NewAnswer(f Format, stream, strip bool) *Answer {
	return &Answer{f: f, stream: stream, strip: strip && stream && f == OpenAI}
}

// Feed observes p, the next bytes of the answer, and returns the bytes to
// relay now: p itself, unless the answer is stripped, where an event's
// bytes are returned once the event has ended (and never for the usage
// chunk). The result is valid until the next call.
func (a *Answer) Feed(p []byte) []byte {
	if !a.stream {
		a.object.feed(p)
		return p
	}
	if !a.strip {
		a.events.feed(p, func(_, data []byte, _ int) { a.event(data) })
		return p
	}
	a.out = a.out[:0]
	start := 0
	a.events.feed(p, func(_, data []byte, end int) {
		drop := a.event(data)
		switch {
		case a.passing:
			a.out = append(a.out, p[start:end]...)
			a.passing = false
		case !drop:
			a.out = append(a.out, a.pending...)
			a.out = append(a.out, p[start:end]...)
		}
		a.pending = a.pending[:0]
		start = end
	})
	if a.passing {
		a.out = append(a.out, p[start:]...)
	} else {
		a.pending = append(a.pending, p[start:]...)
		if len(a.pending) > maxEvent {
			// Too long to be the usage chunk: relay it as it comes.
			a.out = append(a.out, a.pending...)
			a.pending = a.pending[:0]
			a.passing = true
		}
	}
	return a.out
}

// End returns the bytes still held when the answer ended (an event the
// upstream did not finish), to relay as they are.
func (a *Answer) End() []byte {
	p := a.pending
	a.pending = nil
	return p
}

// Usage returns the usage the answer reported so far: for a stream, what
// its events reported; for a JSON answer, its top-level usage once it was
// read whole.
func (a *Answer) Usage() Usage {
	if !a.stream && a.object.found && !a.parsed {
		a.parsed = true
		a.usage, _ = ParseUsage(a.f, a.object.usage)
	}
	return a.usage
}

// Streaming reports whether the answer is an event stream.
func (a *Answer) Streaming() bool { return a.stream }

var (
	usageWord = []byte(`"usage"`)
	doneData  = []byte("[DONE]")
)

// hasUsageObject reports whether data has a "usage" key followed by an
// object: most stream chunks carry "usage":null and need no parsing. It
// may find the word inside a string too; parsing then decides.
func hasUsageObject(data []byte) bool {
	for {
		i := bytes.Index(data, usageWord)
		if i < 0 {
			return false
		}
		data = data[i+len(usageWord):]
		j := 0
		for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\r' || data[j] == '\n' || data[j] == ':') {
			j++
		}
		if j < len(data) && data[j] == '{' {
			return true
		}
	}
}

// event reads one event's data and reports whether it is the usage chunk
// to remove.
func (a *Answer) event(data []byte) (drop bool) {
	if len(data) == 0 || bytes.Equal(data, doneData) || !hasUsageObject(data) {
		return false
	}
	switch a.f {
	case OpenAI:
		var c struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   *openaiUsage      `json:"usage"`
		}
		if json.Unmarshal(data, &c) != nil || c.Usage == nil {
			return false
		}
		// Cumulative: the last report is the answer's.
		a.usage = c.Usage.usage()
		return a.strip && len(c.Choices) == 0
	case Anthropic:
		var e struct {
			Message *struct {
				Usage *anthropicUsage `json:"usage"`
			} `json:"message"`
			Usage *anthropicUsage `json:"usage"`
		}
		if json.Unmarshal(data, &e) != nil {
			return false
		}
		if e.Message != nil && e.Message.Usage != nil {
			e.Message.Usage.merge(&a.usage, &a.parts)
		}
		if e.Usage != nil {
			e.Usage.merge(&a.usage, &a.parts)
		}
	}
	return false
}
