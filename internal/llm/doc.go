// Package llm knows where the model and the token usage are in the
// requests and answers of OpenAI-compatible (Chat Completions) and
// Anthropic-compatible (Messages) APIs.
//
// On the request path it sits inside a route's llm steps (package route):
// Prepare reads a request body that the step has already read whole
// (bounded by the route's body limit), finds its "model", "stream" and
// "max_tokens", and returns the body to forward, with max_tokens set when
// the route has a default and, for streaming OpenAI requests,
// stream_options.include_usage set so that the answer reports its usage.
// Answer then observes the upstream's answer as the proxy relays it:
// JSON answers are scanned for their top-level "usage" object as the bytes
// pass, and event streams (text/event-stream) are split into events as
// they pass, without waiting for the end of the body. Bytes are relayed
// unchanged and at once; the only rewrite is removing the usage event of
// an OpenAI stream when the gateway itself asked for it, which holds back
// the bytes of the event being read until its end.
//
// The package must not do I/O, write responses, or know about limits,
// metrics or the usage ledger: it reports what it read.
package llm
