package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/bench"
	"github.com/gantry-dev/gantry/bench/fixedrate"
)

// bench is the whole run: start, check, warm up, interleaved rounds,
// fixed-rate rounds, the router benchmark, then the report.
// rssSettle is how long after the last round the settled RSS is read.
const rssSettle = 3 * time.Second

func (h *harness) bench(ctx context.Context) error {
	h.machine = readMachine(h.o)
	logf("machine: %s; load average %s", h.machine.summary(), h.machine.loadStart)
	if h.machine.busy() {
		logf("warning: the machine is busy (load average %s on %d CPUs); results will be noisy", h.machine.loadStart, h.machine.cpus)
	}
	script := h.path("report.lua")
	if err := os.WriteFile(script, []byte(bench.WrkScript), 0o644); err != nil {
		return err
	}

	list := selectScenarios(scenarios(), h.o)

	if err := h.startUpstream(); err != nil {
		return err
	}
	if err := h.startTLS(list); err != nil {
		return err
	}
	// Each tracing scenario exports to a collector of its own, in-process;
	// the sinks are closed after the gateways stop, so a last export at
	// shutdown still finds its collector.
	for _, s := range list {
		if !s.tracing {
			continue
		}
		sink, err := startSink()
		if err != nil {
			return fmt.Errorf("%s: starting the OTLP sink: %w", s.title, err)
		}
		h.ps.afterStop(sink.close)
		s.sink = sink
	}
	up := h.upstream.pid()
	for _, s := range list {
		var err error
		switch s.kind {
		case kindDirect:
			s.url = "http://" + h.upstreamAddr + s.path
			s.pids = func() []int { return nil }
			s.rssOf = func() []int { return []int{up} }
		case kindNginx:
			err = h.startNginx(s)
		case kindHAProxy:
			err = h.startHAProxy(ctx, s)
		case kindGoProxy:
			err = h.startGoProxy(s, h.o.goproxy, "goproxy")
		case kindFloor:
			err = h.startGoProxy(s, h.o.floorproxy, "floorproxy")
		case kindCaddy:
			err = h.startCaddy(ctx, s)
		case kindTraefik:
			err = h.startTraefik(ctx, s)
		case kindGantry:
			err = h.startGantry(s)
		}
		if s.tlsFront {
			s.client = h.tlsClient
		}
		if err == nil && s.skip == "" {
			err = check(ctx, s)
		}
		if err != nil || s.skip != "" {
			if err != nil {
				s.skip = "failed: " + firstLines(err.Error(), 2)
			}
			if s.required {
				return fmt.Errorf("%s: %s", s.title, s.skip)
			}
			logf("%-42s skipped (%s)", s.title, s.skip)
			continue
		}
		logf("%-42s ready at %s", s.title, s.url)
	}
	active := activeOf(list)

	for _, s := range active {
		if _, err := h.wrk(s, h.o.warmup).run(ctx); err != nil {
			if s.required || ctx.Err() != nil {
				return fmt.Errorf("warm-up of %s: %w", s.title, err)
			}
			s.skip = "failed in the warm-up: " + firstLines(err.Error(), 2)
			logf("%-42s %s", s.title, s.skip)
		}
	}
	active = activeOf(active)
	for r := range h.o.rounds {
		for _, s := range rotate(active, r) {
			if s.skip != "" {
				continue
			}
			upPid := up
			if s.tlsUpstream {
				upPid = h.upstreamTLS.pid()
			}
			m, err := h.saturate(ctx, s, upPid)
			if err != nil {
				if s.required || ctx.Err() != nil {
					return fmt.Errorf("%s, round %d: %w", s.title, r+1, err)
				}
				// One broken scenario must not cost the others' results.
				s.skip = fmt.Sprintf("failed in round %d: %s", r+1, firstLines(err.Error(), 2))
				logf("%-42s %s", s.title, s.skip)
				continue
			}
			s.runs = append(s.runs, m)
			// The last round's reading stays: RSS at the end of the load.
			s.rssLoad, _ = rssBytes(s.rssOf())
			logf("round %d/%d  %-42s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  CPU %6.1f µs/req  errors %d",
				r+1, h.o.rounds, s.title, m.wrk.rps(), float64(m.wrk.P50US)/1000, float64(m.wrk.P99US)/1000,
				m.proxyCPU/float64(max(m.wrk.Requests, 1))*1e6, m.wrk.errors())
		}
	}
	active = activeOf(active)
	// RSS again once the proxies settled (the gateway gives back what a
	// busy spell took within a second or two of its end; see
	// internal/server/memory.go).
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(rssSettle):
	}
	for _, s := range active {
		if s.rss, _ = rssBytes(s.rssOf()); s.rss == 0 {
			logf("%s: could not read RSS", s.title)
		}
		if s.kind == kindNginx {
			s.masterRSS, _ = rssBytes([]int{s.proc.pid()})
		}
	}

	// /metrics with 10,000 routes: the loaded gateway right after its
	// rounds, then an idle one on the same config.
	var rm *routesMetrics
	for _, s := range list {
		if !s.routes {
			continue
		}
		rm = &routesMetrics{}
		if s.skip == "" && len(s.runs) > 0 {
			rm.loaded = scrapeGateway(ctx, s, loadedScrapes)
			logScrape("after the load", rm.loaded)
		}
		rm.idle = h.idleRoutes(ctx)
		logScrape("idle", rm.idle)
	}

	var fixed []*scenario
	for _, s := range active {
		if s.fixedRate {
			fixed = append(fixed, s)
		}
	}
	for r := range h.o.rounds {
		for _, s := range rotate(fixed, r) {
			if err := h.fixedRate(ctx, s); err != nil {
				return fmt.Errorf("fixed rate, %s, round %d: %w", s.title, r+1, err)
			}
		}
	}

	var gb *goBench
	if h.o.goBench {
		var err error
		if gb, err = runGoBench(ctx, h.o.root); err != nil {
			logf("router benchmark: %v", err)
		}
	}
	h.machine.loadEnd = loadAverage()

	rep := report{opts: h.o, machine: h.machine, scenarios: list, goBench: gb, routesMetrics: rm, date: time.Now().UTC()}
	md := rep.markdown()
	fmt.Println(md)
	if h.o.doc != "" {
		doc := h.o.doc
		if !filepath.IsAbs(doc) {
			doc = filepath.Join(h.o.root, doc)
		}
		if err := writeDoc(doc, md); err != nil {
			return err
		}
		logf("results written into %s", doc)
	}
	if n := rep.totalErrors(); n > 0 {
		logf("warning: %d errors across the runs", n)
	}
	return nil
}

// selectScenarios keeps the scenarios this run measures: those -only
// names (by key or group) and those that always run, less the Go peers
// whose binary was not given; the opt-in ones (TLS) only when named or in
// a full run.
func selectScenarios(all []*scenario, o options) []*scenario {
	var want map[string]bool
	if o.only != "" {
		want = map[string]bool{}
		for k := range strings.SplitSeq(o.only, ",") {
			want[strings.TrimSpace(k)] = true
		}
	}
	var list []*scenario
	for _, s := range all {
		if (s.kind == kindCaddy && o.caddy == "") || (s.kind == kindTraefik && o.traefik == "") {
			continue // a Go peer runs only when its binary is given
		}
		named := want[s.key] || (s.group != "" && want[s.group])
		if s.optIn {
			if named || (want == nil && !o.quick) {
				list = append(list, s)
			}
			continue
		}
		if want == nil || named || s.required || s.always {
			list = append(list, s)
		}
	}
	return list
}

func activeOf(list []*scenario) []*scenario {
	var out []*scenario
	for _, s := range list {
		if s.skip == "" {
			out = append(out, s)
		}
	}
	return out
}

func (h *harness) wrk(s *scenario, d time.Duration) wrkRun {
	return wrkRun{bin: h.o.wrk, script: h.path("report.lua"), threads: 1, conns: h.o.conns, duration: d, url: s.url, headers: s.header}
}

// saturate runs wrk once against s and charges the CPU its proxy and the
// upstream spent meanwhile.
func (h *harness) saturate(ctx context.Context, s *scenario, upstream int) (measure, error) {
	pids := s.pids()
	p0, err := cpuTicks(pids)
	if err != nil {
		return measure{}, err
	}
	u0, err := cpuTicks([]int{upstream})
	if err != nil {
		return measure{}, err
	}
	var e0, b0 int64
	if s.sink != nil {
		e0, b0 = s.sink.counts()
	}
	res, err := h.wrk(s, h.o.duration).run(ctx)
	if err != nil {
		return measure{}, err
	}
	var e1, b1 int64
	if s.sink != nil {
		e1, b1 = s.sink.counts()
	}
	p1, err := cpuTicks(pids)
	if err != nil {
		return measure{}, fmt.Errorf("proxy exited during the run: %w", err)
	}
	u1, err := cpuTicks([]int{upstream})
	if err != nil {
		return measure{}, err
	}
	return measure{wrk: res, proxyCPU: float64(p1-p0) / h.hz, upstreamCPU: float64(u1-u0) / h.hz,
		exports: e1 - e0, exportBytes: b1 - b0}, nil
}

// fixedRate runs one open-loop round against s and pools its latencies.
func (h *harness) fixedRate(ctx context.Context, s *scenario) error {
	pids := s.pids()
	p0, err := cpuTicks(pids)
	if err != nil {
		return err
	}
	hdr := http.Header{}
	for _, hv := range s.header {
		k, v, _ := strings.Cut(hv, ":")
		hdr.Set(k, strings.TrimSpace(v))
	}
	res, err := fixedrate.Run(ctx, fixedrate.Options{URL: s.url, Header: hdr, Rate: h.o.rate, Duration: h.o.rateDuration, Conns: h.o.conns})
	if err != nil {
		return err
	}
	p1, err := cpuTicks(pids)
	if err != nil {
		return err
	}
	f := &s.fixed
	f.latencies = append(f.latencies, res.Latencies...)
	f.sent += res.Sent
	f.ok += res.OK
	f.errs += res.Errors
	f.proxyCPU += float64(p1-p0) / h.hz
	f.maxLate = max(f.maxLate, res.MaxLate)
	f.rounds++
	logf("fixed %4.0f/s  %-42s p50 %6.3f ms  p99 %6.3f ms  errors %d  generator late by up to %v",
		h.o.rate, s.title, ms(res.Percentile(0.5)), ms(res.Percentile(0.99)), res.Errors, res.MaxLate.Round(time.Microsecond))
	return nil
}

func logScrape(what string, r scrapeResult) {
	if r.err != "" {
		logf("/metrics, 10,000 routes, %s: %s", what, r.err)
		return
	}
	logf("/metrics, 10,000 routes, %s: %d bytes, %d series, median scrape %.1f ms, RSS %.1f → %.1f MiB",
		what, r.lastSize(), r.series, ms(r.medianTime()), mib(r.rssBefore), mib(r.rssAfter))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
