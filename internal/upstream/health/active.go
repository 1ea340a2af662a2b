package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/upstream"
)

// maxProbeBody is how much of a probe's answer is read, so the connection
// can be reused; the rest is dropped with the connection.
const maxProbeBody = 4 << 10

// Checker probes the targets of one pool. Create it with Start.
type Checker struct {
	pool     *upstream.Pool
	path     string
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	client   *http.Client
	h2c      *http.Client
	tls      *tls.Config
}

// Start runs the active health checks of pool until ctx ends, and returns
// the Checker (nil when the pool has no health_check). The first round
// starts after a random fraction of the interval (at most a second), so
// the checkers of many upstreams do not all fire at once, then rounds
// follow every interval. log may be nil. tlsConfig is the TLS client
// configuration of https:// targets (the upstream's tls block); nil means
// the system's roots.
func Start(ctx context.Context, pool *upstream.Pool, log *slog.Logger, tlsConfig *tls.Config) *Checker {
	hc := pool.HealthCheck()
	if hc == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{
		pool:     pool,
		path:     hc.Path,
		interval: hc.Interval.D(),
		timeout:  hc.Timeout.D(),
		log:      log.With("upstream", pool.Name),
	}
	if c.path == "" {
		c.path = "/healthz"
	}
	if c.interval <= 0 {
		c.interval = 10 * time.Second
	}
	if c.timeout <= 0 || c.timeout > c.interval {
		c.timeout = min(2*time.Second, c.interval/2)
	}
	c.tls = tlsConfig
	c.client = c.newClient(false)
	c.h2c = c.newClient(true)
	go c.run(ctx)
	return c
}

func (c *Checker) newClient(h2c bool) *http.Client {
	tr := &http.Transport{
		// Probes go straight to the target, whatever HTTP_PROXY says.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: c.timeout, KeepAlive: -1}).DialContext,
		TLSHandshakeTimeout:   c.timeout,
		ResponseHeaderTimeout: c.timeout,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       min(2*c.interval, 90*time.Second),
		DisableCompression:    true,
	}
	if c.tls != nil {
		// Each client its own copy: net/http may add ALPN protocols to it.
		tr.TLSClientConfig = c.tls.Clone()
	}
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	}
	return &http.Client{
		Transport: tr,
		// A redirect is an answer (3xx passes); following it would probe
		// something else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (c *Checker) run(ctx context.Context) {
	defer c.client.CloseIdleConnections()
	defer c.h2c.CloseIdleConnections()
	first := time.Duration(rand.Int64N(int64(min(c.interval/4, time.Second)) + 1))
	timer := time.NewTimer(first)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return
	case <-timer.C:
	}
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		c.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Round probes every current target of the pool once, concurrently, and
// records the results. It returns when every probe is done (at most the
// timeout).
func (c *Checker) Round(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range c.pool.Targets() {
		wg.Go(func() {
			err := c.probe(ctx, t)
			if ctx.Err() != nil {
				// The generation retired mid-probe; its verdict is moot.
				return
			}
			if t.RecordProbe(err == nil) {
				if err == nil {
					c.log.Info("upstream target healthy again", "target", t.Name)
				} else {
					c.log.Warn("upstream target unhealthy", "target", t.Name, "error", err)
				}
			}
		})
	}
	wg.Wait()
}

// probe sends one GET to the target's base path plus the check path and
// returns nil for a 2xx or 3xx answer.
func (c *Checker) probe(ctx context.Context, t *upstream.Target) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	scheme, client := t.Scheme, c.client
	if t.H2C {
		client = c.h2c
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+t.Addr+t.RawBasePath+c.path, nil)
	if err != nil {
		return err
	}
	req.Host = t.Host
	req.Header.Set("User-Agent", "gantry-health-check")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxProbeBody))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode >= 400 {
		return fmt.Errorf("health check answered %d", res.StatusCode)
	}
	return nil
}
