package jwt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// kidRefetchInterval is the least time between fetches started by an
	// unknown kid: anyone can send tokens with made-up kids.
	kidRefetchInterval = 10 * time.Second
	// maxJWKSBytes caps a JWKS response; real sets are a few KiB.
	maxJWKSBytes = 1 << 20

	defaultRefresh = 5 * time.Minute
	minRefresh     = time.Minute
	maxRefresh     = 24 * time.Hour
	minRetry       = time.Second
	maxRetry       = time.Minute

	defaultFetchTimeout = 5 * time.Second
)

// fetchCall is one JWKS fetch; everyone who needs fresh keys while it runs
// waits for this one instead of starting another. ttl and err are set
// before done is closed.
type fetchCall struct {
	done chan struct{}
	ttl  time.Duration
	err  error
}

func (p *Provider) initJWKS(raw string, client *http.Client) {
	p.jwksURL = raw
	p.logURL = raw
	if u, err := url.Parse(raw); err == nil {
		p.logURL = u.Redacted()
	}
	p.client = client
	if p.client == nil {
		p.client = defaultClient()
		p.ownClient = true
	}
	p.fetchTimeout = p.client.Timeout
	if p.fetchTimeout <= 0 || p.fetchTimeout > defaultFetchTimeout {
		p.fetchTimeout = defaultFetchTimeout
	}
}

// defaultClient ignores HTTP_PROXY and friends: the gateway's environment
// is not the identity provider's route, and a proxy variable set for other
// tools must not redirect where keys come from.
func defaultClient() *http.Client {
	d := &net.Dialer{Timeout: defaultFetchTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: defaultFetchTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   defaultFetchTimeout,
			ResponseHeaderTimeout: defaultFetchTimeout,
			MaxIdleConns:          2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("redirect from https to http refused")
			}
			return nil
		},
	}
}

// startFetch returns the fetch in flight, or starts one. For an unknown
// kid (onKidMiss) it starts none when the last fetch began less than
// kidRefetchInterval ago, and returns nil. It returns nil once closed.
func (p *Provider) startFetch(onKidMiss bool) *fetchCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.call != nil {
		return p.call
	}
	if p.closed {
		return nil
	}
	now := p.now()
	if onKidMiss && !p.lastFetch.IsZero() && now.Sub(p.lastFetch) < kidRefetchInterval {
		return nil
	}
	c := &fetchCall{done: make(chan struct{})}
	p.call, p.lastFetch = c, now
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		c.ttl, c.err = p.fetch()
		if p.onFetch != nil && p.ctx.Err() == nil {
			p.onFetch(c.err == nil)
		}
		// A fetch cut short by Close is no failure worth a warning.
		if c.err != nil && p.ctx.Err() == nil {
			n := 0
			if s := p.keys.Load(); s != nil {
				n = len(s.keys)
			}
			p.log.Warn("jwks fetch failed; serving cached keys", "jwks_url", p.logURL, "cached_keys", n, "error", c.err)
		}
		p.mu.Lock()
		p.call = nil
		p.mu.Unlock()
		close(c.done)
	}()
	return c
}

// refetch is called for a token whose kid no cached key has. It waits for
// the shared fetch, at most one fetch timeout and never past the request's
// end; when a fetch ran less than 10 s ago it returns at once.
func (p *Provider) refetch(ctx context.Context) {
	c := p.startFetch(true)
	if c == nil {
		return
	}
	t := time.NewTimer(p.fetchTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-ctx.Done():
	case <-t.C:
	}
}

// refreshLoop keeps the keys fresh: after each fetch it waits what the
// response's Cache-Control allows, or backs off after a failure, and
// fetches again, until Close.
func (p *Provider) refreshLoop(c *fetchCall) {
	defer p.wg.Done()
	failures := 0
	for c != nil {
		select {
		case <-c.done:
		case <-p.ctx.Done():
			return
		}
		wait := c.ttl
		if c.err != nil {
			failures++
			wait = min(p.minRetry<<min(failures-1, 16), maxRetry)
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return
		}
		c = p.startFetch(false)
	}
}

// fetch downloads and parses the JWKS and swaps it in whole, so keys the
// provider removed stop working. On any failure the cached keys stay.
func (p *Provider) fetch() (time.Duration, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.jwksURL, nil)
	if err != nil {
		return 0, fmt.Errorf("fetching jwks %s: %w", p.logURL, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		// The client's error repeats the URL; keep only the cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, fmt.Errorf("fetching jwks %s: %w", p.logURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("fetching jwks %s: status %d", p.logURL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return 0, fmt.Errorf("reading jwks %s: %w", p.logURL, err)
	}
	if len(body) > maxJWKSBytes {
		return 0, fmt.Errorf("jwks %s: response larger than %d bytes", p.logURL, maxJWKSBytes)
	}
	set, skipped, err := parseJWKS(body)
	// Once per fetch, not per token: the operator learns why a key the
	// provider publishes is never used, whether or not others are.
	for _, k := range skipped {
		p.log.Warn("jwks key skipped", "jwks_url", p.logURL, "kid", k.kid, "index", k.index, "reason", k.reason)
	}
	if err != nil {
		return 0, fmt.Errorf("jwks %s: %w", p.logURL, err)
	}
	p.keys.Store(set)
	ttl := cacheTTL(resp.Header.Get("Cache-Control"), p.minRefresh)
	p.log.Debug("jwks fetched", "jwks_url", p.logURL, "keys", len(set.keys), "skipped", len(skipped), "next_refresh", ttl)
	return ttl, nil
}

// cacheTTL is how long a fetched JWKS is fresh: its max-age, clamped to
// [floor, 24h] so that a provider can neither make the gateway poll every
// second nor keep a removed key alive for days; 5 minutes without one.
// no-cache and no-store mean "as soon as allowed".
func cacheTTL(cc string, floor time.Duration) time.Duration {
	ttl := defaultRefresh
	for dir := range strings.SplitSeq(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-cache", "no-store":
			return floor
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
				ttl = time.Duration(min(n, int64(maxRefresh/time.Second))) * time.Second
			}
		}
	}
	return min(max(ttl, floor), maxRefresh)
}
