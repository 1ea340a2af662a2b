package external

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/wire"
)

// MaxAnswerBytes bounds the body of a service's answer the gateway reads; a
// refusal with a larger body is relayed without it.
const MaxAnswerBytes = 64 << 10

// Options are what a Service needs from the gateway.
type Options struct {
	// Transport carries the calls: one of the gateway's shared transports.
	Transport http.RoundTripper
	// Trusted are the peers whose X-Forwarded-For is believed.
	Trusted []netip.Prefix
	// Logger receives failures to reach the service.
	Logger *slog.Logger
	// Now is the clock of the cache; nil means time.Now.
	Now func() time.Time
	// OnResult, when set, is told how each check was answered: one of
	// the Result* values (gantry_external_auth_total).
	OnResult func(result string)
}

// Results of a check, as Options.OnResult is told them.
const (
	ResultAllowed     = "allowed"
	ResultDenied      = "denied"
	ResultUnavailable = "unavailable"
	ResultCached      = "cached"
)

// Service is one external authorization service. It is safe for
// concurrent use.
type Service struct {
	name     string
	url      *url.URL
	timeout  time.Duration
	forward  []string
	response []string
	allow    bool // on_failure: allow
	tr       http.RoundTripper
	trusted  []netip.Prefix
	log      *slog.Logger
	onResult func(string)
	cache    *cache // nil without a cache
}

// Decision is the service's answer to one request. Allowed decisions
// carry the headers to set on the upstream request and the consumer the
// service named; refusals carry the answer to relay. A Decision may be
// shared between requests (the cache): callers only read it.
type Decision struct {
	Allowed bool
	// Headers are the configured response_headers of a 2xx answer, in
	// canonical form, X-Consumer-Id excluded.
	Headers [][2]string
	// Consumer is the answer's X-Consumer-Id when listed in
	// response_headers, "" otherwise.
	Consumer string
	// Status, Header and Body are the refusal to relay: the service's
	// answer without its hop-by-hop headers. Body is nil when it was
	// larger than MaxAnswerBytes.
	Status int
	Header http.Header
	Body   []byte
}

// Build returns the service c describes. It does no I/O.
func Build(c *config.ExternalAuth, o Options) (*Service, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("want an http:// or https:// URL with a host, got %q", c.URL)
	}
	if o.Transport == nil {
		return nil, errors.New("no transport")
	}
	s := &Service{name: c.Name, url: u, timeout: c.Timeout.D(), allow: c.OnFailure == config.ExternalAllow,
		tr: o.Transport, trusted: o.Trusted, log: o.Logger, onResult: o.OnResult}
	if s.onResult == nil {
		s.onResult = func(string) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, h := range c.ForwardHeaders {
		s.forward = append(s.forward, http.CanonicalHeaderKey(h))
	}
	for _, h := range c.ResponseHeaders {
		s.response = append(s.response, http.CanonicalHeaderKey(h))
	}
	if c.Cache > 0 {
		now := o.Now
		if now == nil {
			now = time.Now
		}
		s.cache = newCache(c.Cache.D(), maxCacheEntries, now)
	}
	return s, nil
}

// Check asks the service about r, or answers from the cache. It returns an
// *pipeline.HTTPError (503 auth_unavailable) when the service could not
// decide and on_failure is deny; with on_failure allow such a request is
// allowed with no header and logged.
func (s *Service) Check(r *http.Request) (*Decision, error) {
	x := pipeline.ExchangeOf(r)
	if x == nil {
		x = &pipeline.Exchange{}
	}
	p := x.RequestPath
	if p == "" {
		p = x.Path
	}
	// Escaped as for the upstream: a decoded "%3F" must not read as the
	// start of a query, nor raw UTF-8 reach a header.
	uri := wire.EscapePath(p)
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	var key [sha256.Size]byte
	if s.cache != nil {
		key = s.key(r, x, uri)
		if d, ok := s.cache.get(key); ok {
			s.onResult(ResultCached)
			return d, nil
		}
	}
	d, err := s.ask(r, x, uri)
	if err != nil {
		s.onResult(ResultUnavailable)
		onFailure := config.ExternalDeny
		if s.allow {
			onFailure = config.ExternalAllow
		}
		s.log.Warn("external authorization failed", "service", s.name, "route", x.RouteName,
			"request_id", x.ID, "on_failure", onFailure, "error", err)
		if s.allow {
			return &Decision{Allowed: true}, nil
		}
		return nil, &pipeline.HTTPError{Status: http.StatusServiceUnavailable, Code: pipeline.CodeAuthUnavailable,
			Message: "authorization service unavailable", Header: http.Header{"Retry-After": {"1"}}}
	}
	if d.Allowed {
		s.onResult(ResultAllowed)
	} else {
		s.onResult(ResultDenied)
	}
	// 2xx and 4xx are decisions about the request; a redirect (to a
	// login page, often with a one-time state) is not kept.
	if s.cache != nil && (d.Allowed || d.Status >= 400) {
		s.cache.put(key, d)
	}
	return d, nil
}

// key is the cache key of r: what the service is told about it, except
// the client's address (a service that decides by address needs cache 0).
func (s *Service) key(r *http.Request, x *pipeline.Exchange, uri string) [sha256.Size]byte {
	h := sha256.New()
	write := func(v string) {
		// Length-prefixed, so no two inputs write the same bytes.
		fmt.Fprintf(h, "%d:%s", len(v), v)
	}
	write(r.Method)
	write(uri)
	write(r.Host)
	write(fmt.Sprint(x.TLS))
	if x.Consumer != nil {
		write(x.Consumer.ID)
	}
	for _, name := range s.forward {
		vs := r.Header.Values(name)
		write(fmt.Sprint(len(vs)))
		for _, v := range vs {
			write(v)
		}
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// ask calls the service. An error means it could not decide: unreachable,
// too slow (the timeout covers the answer's body), or a 5xx.
func (s *Service) ask(r *http.Request, x *pipeline.Exchange, uri string) (*Decision, error) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	u := *s.url
	req := (&http.Request{Method: http.MethodGet, URL: &u, Host: u.Host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, 8+len(s.forward))}).WithContext(ctx)
	for _, name := range s.forward {
		if vs := r.Header.Values(name); len(vs) > 0 {
			req.Header[name] = vs
		}
	}
	// After the client's headers: what the gateway says of the request
	// wins over anything a client sent under the same names.
	forward.SetHeaders(req.Header, r, x, s.trusted)
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Uri", uri)
	res, err := s.tr.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", s.url.Redacted(), err)
	}
	defer res.Body.Close()
	// No decision: a 5xx, or an interim answer no client could use.
	if res.StatusCode >= 500 || res.StatusCode < 200 {
		return nil, fmt.Errorf("%s answered %d", s.url.Redacted(), res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", s.url.Redacted(), err)
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		d := &Decision{Allowed: true, Status: res.StatusCode}
		for _, name := range s.response {
			v := res.Header.Get(name)
			switch {
			case v == "":
			case name == "X-Consumer-Id":
				d.Consumer = v
			default:
				d.Headers = append(d.Headers, [2]string{name, v})
			}
		}
		return d, nil
	}
	hd := res.Header.Clone()
	forward.RemoveHopByHop(hd)
	delete(hd, "Content-Length")
	if len(body) > MaxAnswerBytes {
		s.log.Warn("external authorization answer body too large; relayed without it", "service", s.name,
			"request_id", x.ID, "status", res.StatusCode, "max_bytes", MaxAnswerBytes)
		body = nil
		delete(hd, "Content-Type")
		delete(hd, "Content-Encoding")
	}
	return &Decision{Status: res.StatusCode, Header: hd, Body: body}, nil
}
