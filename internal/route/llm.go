package route

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/llm"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// maxLLMBody bounds the request body an llm step reads when neither the
// route nor the server limits bodies.
const maxLLMBody = 32 << 20

// otherModel is metered in place of a model that is neither listed by
// the route nor priced by a plan, so clients cannot grow the ledger and
// the metrics with names of their choosing.
const otherModel = "other"

// llmStep reads a route's LLM requests and meters, limits and bills their
// answers by tokens (docs/llm.md): the body's model against the route's
// models, max_tokens_default, the consumer's token_limit and token_quota
// (checked before, spent after the answer), and the answer's usage into
// Exchange.LLM.
func llmStep(env *Env, rc *config.Route, rt *Route) (pipeline.Middleware, error) {
	lc := rc.LLM
	if lc == nil {
		return nil, nil
	}
	f, ok := llm.ParseFormat(lc.Format)
	if !ok {
		return nil, fmt.Errorf("llm.format: want openai or anthropic, got %q", lc.Format)
	}
	g := &llmGate{
		format:    f,
		counter:   env.Counter,
		maxTokens: lc.MaxTokensDefault,
		metered:   map[string]bool{},
		plans:     map[string]*tokenPlan{},
		bodyCap:   maxLLMBody,
		onLimited: func() { rt.Metrics().RateLimited() },
	}
	if limit := int64(env.Config.Server.Limits.MaxBodyBytes); rc.MaxBodyBytes > 0 {
		g.bodyCap = int64(rc.MaxBodyBytes)
	} else if limit > 0 {
		g.bodyCap = limit
	}
	if len(lc.Models) > 0 {
		g.allowed = map[string]bool{}
		for _, m := range lc.Models {
			g.allowed[m] = true
			g.metered[m] = true
		}
	} else {
		for _, p := range env.Config.Plans {
			if p != nil && p.Pricing != nil {
				for m := range maps.Keys(p.Pricing.Per1MTokens) {
					g.metered[m] = true
				}
			}
		}
	}
	if len(rc.Auth) > 0 {
		for name, p := range env.Config.Plans {
			if tp := newTokenPlan(name, p); tp != nil {
				g.plans[name] = tp
			}
		}
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return g.serve(next, w, r)
		})
	}, nil
}

// llmGate is one route's compiled llm step. It is immutable and safe for
// concurrent use.
type llmGate struct {
	format    llm.Format
	counter   counter.Counter
	maxTokens int64
	// allowed are the route's models; nil admits every model.
	allowed map[string]bool
	// metered are the models recorded under their own name.
	metered   map[string]bool
	plans     map[string]*tokenPlan
	bodyCap   int64
	onLimited func()
}

// tokenPlan is a plan's token_limit and token_quota, compiled.
type tokenPlan struct {
	bucket   counter.Bucket // Tag filled per request
	limited  bool
	quota    counter.Quota // Tag filled per request
	rateMsg  string
	quotaMsg string
}

func newTokenPlan(name string, p *config.Plan) *tokenPlan {
	if p == nil || (p.TokenLimit == nil && p.TokenQuota == nil) {
		return nil
	}
	tp := &tokenPlan{}
	if tl := p.TokenLimit; tl != nil {
		tp.limited = true
		tp.bucket = counter.Bucket{Name: "t:" + name, Rate: counter.Rate{Requests: tl.Tokens, Per: tl.Per.D(), Burst: tl.Tokens}}
		tp.rateMsg = fmt.Sprintf("token limit of your plan exceeded: %d tokens per %s", tl.Tokens, tl.Per)
	}
	if tq := p.TokenQuota; tq != nil {
		per, _ := counter.ParsePeriod(tq.Per)
		tp.quota = counter.Quota{Name: "tq:" + tq.Per, Limit: tq.Tokens, Per: per}
		tp.quotaMsg = fmt.Sprintf("token quota of %d tokens per %s is used up", tq.Tokens, tq.Per)
	}
	return tp
}

// TokenPlanRequest is the counter request of plan name's (p's) token_limit
// and token_quota for a consumer, named as LLM routes name them, so that
// Counter.Admit reads what that consumer's tokens are charged to. It is
// empty for a plan with neither.
func TokenPlanRequest(name string, p *config.Plan, consumer string) counter.Request {
	tp := newTokenPlan(name, p)
	if tp == nil {
		return counter.Request{}
	}
	return tp.request(consumer)
}

// request is the plan's counter request for one consumer.
func (tp *tokenPlan) request(consumer string) counter.Request {
	var req counter.Request
	if tp.limited {
		b := tp.bucket
		b.Tag = consumer
		req.Add(b)
	}
	if tp.quota.Limit > 0 {
		req.Quota = tp.quota
		req.Quota.Tag = consumer
	}
	return req
}

func (g *llmGate) serve(next pipeline.Handler, w http.ResponseWriter, r *http.Request) error {
	x := pipeline.ExchangeOf(r)
	body, err := g.readBody(r)
	if err != nil {
		return err
	}
	req, out, err := llm.Prepare(g.format, body, g.maxTokens)
	if err != nil {
		return pipeline.Errorf(http.StatusBadRequest, pipeline.CodeBadRequest, "%s", err.Error())
	}
	stats := &pipeline.LLMStats{Model: otherModel}
	if g.metered[req.Model] {
		stats.Model = req.Model
	}
	start := time.Now()
	if x != nil {
		x.LLM = stats
		start = x.Start
	}
	if g.allowed != nil && !g.allowed[req.Model] {
		return pipeline.Errorf(http.StatusForbidden, pipeline.CodeModelNotAllowed, "model %s is not allowed on this route", quoteModel(req.Model))
	}

	var (
		treq  counter.Request
		tp    *tokenPlan
		heads tokenHeaders
	)
	if x != nil && x.Consumer != nil {
		tp = g.plans[x.Consumer.Plan]
	}
	if tp != nil {
		treq = tp.request(x.Consumer.ID)
		d := g.counter.Admit(r.Context(), treq)
		switch {
		case d.Degraded && d.Allowed:
			// on_failure allow: no headers that would only be guesses.
		case d.Degraded:
			g.limited()
			return tokenRefusal(pipeline.CodeRateLimited, "rate-limit counters are unavailable; try again shortly", d.RetryAfter, heads)
		default:
			heads = newTokenHeaders(&d, treq.N)
			if !d.Allowed {
				g.limited()
				if d.Reason == counter.ReasonQuota {
					return tokenRefusal(pipeline.CodeQuotaExceeded, tp.quotaMsg, d.RetryAfter, heads)
				}
				return tokenRefusal(pipeline.CodeRateLimited, tp.rateMsg, d.RetryAfter, heads)
			}
		}
	}

	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.TransferEncoding = nil
	r.Header.Del("Content-Length")
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	// The usage is read from the answer as it passes: it must not come
	// compressed.
	r.Header.Set("Accept-Encoding", "identity")

	lw := &llmWriter{ResponseWriter: w, format: g.format, strip: req.StripUsage, start: start, stats: stats, heads: heads}
	err = next.ServeHTTP(lw, r)
	lw.finish(err == nil)
	u := lw.usage()
	stats.InputTokens, stats.OutputTokens, stats.CachedTokens, stats.Reported = u.Input, u.Output, u.Cached, u.Reported
	if tp != nil && u.Total() > 0 {
		// The answer is over, and the client may be gone: the tokens were
		// used all the same.
		g.counter.Spend(context.WithoutCancel(r.Context()), treq, u.Total())
	}
	return err
}

func (g *llmGate) limited() {
	if g.onLimited != nil {
		g.onLimited()
	}
}

// readBody reads the whole request body, at most bodyCap bytes. Failures
// are the client's, answered as any body failure is.
func (g *llmGate) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > g.bodyCap {
		return nil, pipeline.Errorf(http.StatusRequestEntityTooLarge, pipeline.CodeBodyTooLarge, "request body is larger than %d bytes", g.bodyCap)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.bodyCap+1))
	if err != nil {
		return nil, forward.BodyError(r, err)
	}
	if int64(len(body)) > g.bodyCap {
		e := pipeline.Errorf(http.StatusRequestEntityTooLarge, pipeline.CodeBodyTooLarge, "request body is larger than %d bytes", g.bodyCap)
		e.Close = true
		return nil, e
	}
	return body, nil
}

// quoteModel quotes a client's model name for an error message, cut to
// 128 bytes.
func quoteModel(m string) string {
	if len(m) > 128 {
		m = m[:128] + "..."
	}
	return strconv.Quote(m)
}

// tokenHeaders are the X-RateLimit-*-Tokens values of a decision, as
// OpenAI names them; empty when no token limit applies.
type tokenHeaders struct{ limit, remaining string }

// newTokenHeaders reports the bucket or quota with the fewest tokens
// left; a balance below zero is reported as 0.
func newTokenHeaders(d *counter.Decision, n int) tokenHeaders {
	var s counter.State
	found := false
	for i := range n {
		if b := d.Buckets[i]; !found || b.Remaining < s.Remaining {
			s, found = b, true
		}
	}
	if q := d.Quota; q.Limit > 0 && (!found || q.Remaining < s.Remaining) {
		s, found = q, true
	}
	if !found {
		return tokenHeaders{}
	}
	return tokenHeaders{limit: strconv.FormatInt(s.Limit, 10), remaining: strconv.FormatInt(max(0, s.Remaining), 10)}
}

func (h tokenHeaders) set(hdr http.Header) {
	if h.limit == "" {
		return
	}
	hdr["X-Ratelimit-Limit-Tokens"] = []string{h.limit}
	hdr["X-Ratelimit-Remaining-Tokens"] = []string{h.remaining}
}

// tokenRefusal is the 429 the server renders, with Retry-After in whole
// seconds, at least 1, and the token headers.
func tokenRefusal(code, msg string, retry time.Duration, h tokenHeaders) error {
	hdr := http.Header{"Retry-After": {strconv.FormatInt(max(1, int64((retry+time.Second-1)/time.Second)), 10)}}
	h.set(hdr)
	return &pipeline.HTTPError{Status: http.StatusTooManyRequests, Code: code, Message: msg, Header: hdr}
}

// llmWriter observes the upstream's answer as the terminal relays it
// (llm.Answer) and passes on what the answer relays, chunk by chunk, with
// the flushes the terminal asks for. Flush, Hijack and
// http.ResponseController keep working through Unwrap.
type llmWriter struct {
	http.ResponseWriter
	format llm.Format
	strip  bool
	start  time.Time
	stats  *pipeline.LLMStats
	heads  tokenHeaders

	answer *llm.Answer
	err    error
}

func (w *llmWriter) WriteHeader(code int) {
	// 1xx answers may be relayed from the transport's goroutine: they
	// must not touch w's fields.
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.answer != nil {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	h := w.ResponseWriter.Header()
	stream := llm.EventStream(h.Get("Content-Type"))
	w.answer = llm.NewAnswer(w.format, stream, w.strip)
	if w.strip && stream && w.format == llm.OpenAI {
		// The usage chunk the client did not ask for is removed.
		h.Del("Content-Length")
	}
	// The provider's limits are those of the gateway's key, shared by
	// every consumer: they are replaced by the consumer's own.
	for k := range h {
		if strings.HasPrefix(k, "X-Ratelimit-") || strings.HasPrefix(k, "Anthropic-Ratelimit-") {
			delete(h, k)
		}
	}
	w.heads.set(h)
	w.ResponseWriter.WriteHeader(code)
}

func (w *llmWriter) Write(p []byte) (int, error) {
	if w.answer == nil {
		w.WriteHeader(http.StatusOK)
	}
	out := w.answer.Feed(p)
	if len(out) == 0 {
		return len(p), nil
	}
	if w.stats.FirstByte == 0 {
		w.stats.FirstByte = max(1, time.Since(w.start))
	}
	if _, err := w.ResponseWriter.Write(out); err != nil {
		if w.err == nil {
			w.err = err
		}
		return 0, err
	}
	return len(p), nil
}

// FlushError flushes to the client; http.ResponseController prefers it.
func (w *llmWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// Flush implements http.Flusher.
func (w *llmWriter) Flush() { _ = w.FlushError() }

// Unwrap returns the underlying writer for http.ResponseController.
func (w *llmWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish relays what the answer still holds (an event the upstream did
// not end) when the relay ended without error.
func (w *llmWriter) finish(ok bool) {
	if w.answer == nil {
		return
	}
	if rest := w.answer.End(); ok && w.err == nil && len(rest) > 0 {
		_, _ = w.ResponseWriter.Write(rest)
	}
}

// usage is what the answer reported; nothing when there was none.
func (w *llmWriter) usage() llm.Usage {
	if w.answer == nil {
		return llm.Usage{}
	}
	return w.answer.Usage()
}
