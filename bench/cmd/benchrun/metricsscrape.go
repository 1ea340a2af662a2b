package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/bench"
)

// The /metrics measurements of a gateway with routesN routes: the loaded
// one (the "routes" scenario, right after its saturation rounds) and an
// idle one started for this on the same config, which sees no traffic.
const (
	loadedScrapes = 5
	idleScrapes   = 3
	idleSettle    = 3 * time.Second
)

// idleRSSTarget is the budget for an idle 10,000-route gateway.
const idleRSSTarget = 40 << 20

// scrapeResult is one gateway's /metrics scrapes.
type scrapeResult struct {
	// ran is set once the scrapes were tried; err says why they failed.
	ran bool
	err string
	// sizes and times are each scrape's body bytes and time to the last
	// byte; series counts the samples of the last one.
	sizes  []int
	times  []time.Duration
	series int
	// rssBefore is read just before the first scrape (the idle gateway:
	// idleSettle after it started), rssAfter just after the last.
	rssBefore, rssAfter uint64
}

// medianTime is the median scrape time.
func (r scrapeResult) medianTime() time.Duration {
	v := make([]float64, len(r.times))
	for i, d := range r.times {
		v[i] = float64(d)
	}
	return time.Duration(median(v))
}

// lastSize is the last scrape's size in bytes.
func (r scrapeResult) lastSize() int {
	if len(r.sizes) == 0 {
		return 0
	}
	return r.sizes[len(r.sizes)-1]
}

// scrapeMetrics GETs url n times, one after another, and records each
// answer's size and time.
func scrapeMetrics(ctx context.Context, url string, n int) (scrapeResult, error) {
	res := scrapeResult{ran: true}
	for range n {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		if err != nil {
			cancel()
			return res, err
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return res, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		cancel()
		if err != nil {
			return res, err
		}
		if resp.StatusCode != http.StatusOK {
			return res, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, firstLines(string(body), 2))
		}
		res.sizes = append(res.sizes, len(body))
		res.times = append(res.times, took)
		res.series = countSeries(body)
	}
	return res, nil
}

// countSeries counts the samples of a Prometheus text exposition: the
// lines that are neither empty nor comments.
func countSeries(body []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) > 0 && l[0] != '#' {
			n++
		}
	}
	return n
}

// scrapeGateway reads the gateway's RSS, scrapes its /metrics n times and
// reads its RSS again.
func scrapeGateway(ctx context.Context, s *scenario, n int) scrapeResult {
	res := scrapeResult{ran: true}
	if s.admin == "" {
		res.err = "no admin address"
		return res
	}
	before, err := rssBytes(s.rssOf())
	if err != nil {
		res.err = err.Error()
		return res
	}
	got, err := scrapeMetrics(ctx, s.admin+"/metrics", n)
	got.rssBefore = before
	if err != nil {
		got.err = firstLines(err.Error(), 2)
		return got
	}
	if got.rssAfter, err = rssBytes(s.rssOf()); err != nil {
		got.err = err.Error()
	}
	return got
}

// idleRoutes starts a gateway on the 10,000-route config, sends it no
// traffic, and scrapes its /metrics idleSettle after it started; it is
// stopped afterwards.
func (h *harness) idleRoutes(ctx context.Context) scrapeResult {
	s := &scenario{key: "routes_idle", title: "gantry, 10,000 routes, idle", kind: kindGantry, routes: true, path: bench.RoutesTarget(routesN)}
	if err := h.startGantry(s); err != nil || s.skip != "" {
		msg := s.skip
		if err != nil {
			msg = err.Error()
		}
		return scrapeResult{ran: true, err: firstLines(msg, 2)}
	}
	defer s.proc.stop(syscall.SIGTERM, 10*time.Second)
	select {
	case <-time.After(idleSettle):
	case <-ctx.Done():
		return scrapeResult{ran: true, err: ctx.Err().Error()}
	}
	return scrapeGateway(ctx, s, idleScrapes)
}

// routesMetrics is what the report shows of /metrics with 10,000 routes.
type routesMetrics struct {
	loaded, idle scrapeResult
}
