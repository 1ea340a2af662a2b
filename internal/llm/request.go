package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Request is what Prepare read from a request body.
type Request struct {
	// Model is the body's "model".
	Model string
	// Stream is the body's "stream": the answer is an event stream.
	Stream bool
	// StripUsage is set when Prepare asked an OpenAI stream for its usage
	// (stream_options.include_usage) on the client's behalf: the usage
	// chunk is then removed from what the client receives.
	StripUsage bool
}

// Errors of Prepare; the route answers them 400.
var (
	ErrNotJSON = errors.New("request body must be a JSON object")
	ErrNoModel = errors.New(`request body must name a "model" (a non-empty string)`)
)

// span is where a top-level member's value is in the body.
type span struct{ start, end int }

// members reads the top-level members of the JSON object body, and
// returns the value spans of the wanted names. It fails unless body is
// exactly one JSON object.
func members(body []byte, wanted ...string) (map[string]span, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, ErrNotJSON
	}
	out := make(map[string]span, len(wanted))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, ErrNotJSON
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, ErrNotJSON
		}
		end := int(dec.InputOffset())
		for _, w := range wanted {
			if name == w {
				// A repeated member: the last one wins, as for
				// encoding/json and most providers.
				out[name] = span{end - len(raw), end}
			}
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, ErrNotJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrNotJSON
	}
	return out, nil
}

// Prepare reads body, a request of format f, and returns what it names
// and the body to forward: body itself, or a copy with max_tokens set to
// maxTokens (when above 0 and the body names none) and, for an OpenAI
// stream whose client did not ask for usage, stream_options.include_usage
// set. Members are added at the start of the object; nothing else of the
// body changes. It fails with ErrNotJSON or ErrNoModel.
func Prepare(f Format, body []byte, maxTokens int64) (Request, []byte, error) {
	var req Request
	ms, err := members(body, "model", "stream", "max_tokens", "max_completion_tokens", "stream_options")
	if err != nil {
		return req, nil, err
	}
	m, ok := ms["model"]
	if !ok || json.Unmarshal(body[m.start:m.end], &req.Model) != nil || req.Model == "" {
		return req, nil, ErrNoModel
	}
	if s, ok := ms["stream"]; ok {
		req.Stream = bytes.Equal(body[s.start:s.end], []byte("true"))
	}
	var add []byte
	_, hasMax := ms["max_tokens"]
	if f == OpenAI {
		if _, ok := ms["max_completion_tokens"]; ok {
			hasMax = true
		}
	}
	if maxTokens > 0 && !hasMax {
		add = append(add, `"max_tokens":`...)
		add = strconv.AppendInt(add, maxTokens, 10)
		add = append(add, ',')
	}
	var replace *span
	var replacement []byte
	if f == OpenAI && req.Stream {
		so, ok := ms["stream_options"]
		switch {
		case !ok || bytes.Equal(body[so.start:so.end], []byte("null")):
			if ok {
				replace, replacement = &so, []byte(`{"include_usage":true}`)
			} else {
				add = append(add, `"stream_options":{"include_usage":true},`...)
			}
			req.StripUsage = true
		default:
			var opts map[string]json.RawMessage
			if err := json.Unmarshal(body[so.start:so.end], &opts); err != nil {
				return req, nil, fmt.Errorf(`request body's "stream_options" must be an object`)
			}
			if !bytes.Equal(opts["include_usage"], []byte("true")) {
				opts["include_usage"] = json.RawMessage("true")
				replacement, _ = json.Marshal(opts)
				replace = &so
				req.StripUsage = true
			}
		}
	}
	if len(add) == 0 && replace == nil {
		return req, body, nil
	}
	out := make([]byte, 0, len(body)+len(add)+len(replacement))
	open := bytes.IndexByte(body, '{') + 1
	out = append(out, body[:open]...)
	if len(add) > 0 {
		if bytes.TrimSpace(body[open:])[0] == '}' {
			// An empty object takes no trailing comma. (No model means
			// Prepare failed before; kept for safety.)
			add = add[:len(add)-1]
		}
		out = append(out, add...)
	}
	rest := body[open:]
	if replace != nil {
		out = append(out, rest[:replace.start-open]...)
		out = append(out, replacement...)
		out = append(out, rest[replace.end-open:]...)
	} else {
		out = append(out, rest...)
	}
	return req, out, nil
}
