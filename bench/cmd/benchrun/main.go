// Command benchrun is the benchmark harness behind `make bench` (see
// bench/run, which installs NGINX and wrk and builds the binaries first).
// It starts an upstream, NGINX, HAProxy, the Go peers it is given (Caddy,
// Traefik) and one gateway per scenario on loopback,
// measures them with wrk in interleaved rounds and at a fixed request rate,
// prints a markdown report and writes it into docs/benchmarks.md between
// markers. Every process it starts is stopped by PID on every way out.
//
// With -profile it instead runs the plain scenario against the gateway
// in-process (bench/cmd/gantryprof) and writes CPU, allocation and mutex
// profiles.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the harness's settings, from flags.
type options struct {
	gantry, gantryprof, upstream, goproxy, floorproxy string
	nginx, haproxy, wrk                               string
	caddy, traefik                                    string
	root, doc, command, rev                           string
	quick                                             bool
	rounds, conns                                     int
	duration, warmup, rateDuration                    time.Duration
	rate                                              float64
	only                                              string
	accessLog                                         string
	goBench, keep                                     bool
	profile                                           string
	memProfileRate                                    int
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.StringVar(&o.gantry, "gantry", "bin/gantry", "gantry `binary`")
	fs.StringVar(&o.gantryprof, "gantryprof", "bin/gantryprof", "in-process profiling `binary` (-profile)")
	fs.StringVar(&o.upstream, "upstream", "bin/bench-upstream", "upstream `binary`")
	fs.StringVar(&o.goproxy, "goproxy", "bin/bench-goproxy", "reference Go proxy `binary`")
	fs.StringVar(&o.floorproxy, "floorproxy", "bin/bench-floorproxy", "the Go floor relay `binary`")
	fs.StringVar(&o.nginx, "nginx", "nginx", "nginx `binary`")
	fs.StringVar(&o.haproxy, "haproxy", "haproxy", "haproxy `binary` (the second reference)")
	fs.StringVar(&o.caddy, "caddy", "", "caddy `binary`, a Go peer; empty: not measured (bench/run sets it with PEERS=go)")
	fs.StringVar(&o.traefik, "traefik", "", "traefik `binary`, a Go peer; empty: not measured (bench/run sets it with PEERS=go)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "wrk `binary`")
	fs.StringVar(&o.root, "root", ".", "repository `root` (for go test and the doc)")
	fs.StringVar(&o.doc, "doc", "docs/benchmarks.md", "markdown `file` to write the results into, between markers; empty: print only")
	fs.StringVar(&o.command, "command", "bench/run", "the command line to record in the report")
	fs.StringVar(&o.rev, "rev", "", "the source revision measured, for the report")
	fs.BoolVar(&o.quick, "quick", false, "short runs (a minute or two in all), for a smoke test")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds")
	fs.IntVar(&o.conns, "c", 64, "connections, for wrk and the fixed-rate run")
	fs.DurationVar(&o.duration, "d", 8*time.Second, "duration of one wrk run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk warm-up per scenario before the rounds")
	fs.DurationVar(&o.rateDuration, "rate-d", 10*time.Second, "duration of one fixed-rate run")
	fs.Float64Var(&o.rate, "rate", 2000, "requests per second of the fixed-rate run")
	fs.StringVar(&o.only, "only", "", "comma-separated scenario keys or groups to run (direct, nginx, haproxy, plain and the Go peers given always run; https_front and https_upstream select the TLS scenarios and headers the 8-field client requests, which a -quick run leaves out; tracing selects both tracing scenarios; routes also scrapes /metrics and measures an idle 10,000-route gateway)")
	fs.StringVar(&o.accessLog, "access-log", "null", "access logs of gantry and the reference proxies: null (formatted and written to /dev/null), file, or off")
	fs.BoolVar(&o.goBench, "gobench", true, "run the router's 10,000-route Match benchmark")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs)")
	fs.StringVar(&o.profile, "profile", "", "profile the plain scenario in-process and write the profiles into `dir`")
	fs.IntVar(&o.memProfileRate, "memprofilerate", 0, "with -profile: sample one allocation per this many `bytes` (1: every allocation, exact per-site counts but slow CPU)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.quick {
		o.duration, o.warmup, o.rateDuration = 2*time.Second, time.Second, 2*time.Second
	}
	switch o.accessLog {
	case "null", "file", "off":
	default:
		return o, fmt.Errorf("-access-log %q: want null, file or off", o.accessLog)
	}
	if o.rounds < 1 || o.conns < 1 || o.rate <= 0 || o.duration < time.Second {
		return o, fmt.Errorf("-rounds, -c and -rate must be positive and -d at least 1s")
	}
	return o, nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	h := &harness{o: o, ps: &procs{}, hz: clockTicks()}
	h.tmp, err = os.MkdirTemp("", "gantry-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Once: a second caller (the signal path and the deferred call can
	// race) waits until the first has stopped everything.
	var once sync.Once
	cleanup := func() {
		once.Do(func() {
			h.ps.stopAll()
			if o.keep {
				fmt.Fprintf(os.Stderr, "kept %s\n", h.tmp)
				return
			}
			os.RemoveAll(h.tmp)
		})
	}
	// Ctrl-C, SIGTERM or a closed terminal: stop every child by PID, then
	// leave. The main goroutine may be anywhere; it is not waited for.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "\n%v: stopping every process this run started\n", sig)
		cancel()
		cleanup()
		os.Exit(130)
	}()
	defer cleanup()

	if o.profile != "" {
		err = h.profile(ctx)
	} else {
		err = h.bench(ctx)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// harness holds one run's state.
type harness struct {
	o   options
	ps  *procs
	tmp string
	hz  float64 // clock ticks per second

	upstream     *proc
	upstreamAddr string
	machine      machine

	// certFile and keyFile are the run's self-signed certificate, and
	// upstreamTLS the upstream serving it, when a TLS scenario runs.
	certFile, keyFile string
	upstreamTLS       *proc
	upstreamTLSAddr   string
	tlsClient         *http.Client
}

func (h *harness) path(name string) string { return filepath.Join(h.tmp, name) }

// logf prints a progress line on stderr; the report goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " / ")
}
