package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/admin"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/portal"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/telemetry"
	metering "github.com/gantry-dev/gantry/internal/usage"
)

// runFlags are shared by run and demo.
type runFlags struct {
	config    string
	accessLog string
	logLevel  string
	logFormat string
}

func (f *runFlags) register(fs *flag.FlagSet, withConfig bool) {
	if withConfig {
		fs.StringVar(&f.config, "config", "gantry.yaml", "configuration `file`, or a directory of them")
		fs.StringVar(&f.config, "c", "gantry.yaml", "configuration `file` or directory (shorthand)")
	}
	fs.StringVar(&f.accessLog, "access-log", "-", "access log destination: - (stdout), a `file`, or off")
	fs.StringVar(&f.logLevel, "log-level", "info", "process log level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "json", "process log format: json or text")
}

const runCmdUsage = `Usage:
  gantry run [-c FILE] [--access-log DEST] [--log-level LEVEL] [--log-format FORMAT]

Serves until SIGINT or SIGTERM; SIGHUP reloads the configuration.

`

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gantry run", runCmdUsage, stderr)
	var f runFlags
	f.register(fs, true)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: invalid configuration %s:\n%v\n", f.config, err)
		return exitConfig
	}
	return serve(cfg, f, stdout, stderr, nil)
}

// serve runs the gateway, its admin listener and, when configured, the
// consumer portal's until a stop signal. ready, when set, is called once
// the listeners are bound (portal nil without a portal).
func serve(cfg *config.Config, f runFlags, stdout, stderr io.Writer, ready func(gw, adm, portal net.Addr)) int {
	logger, err := newLogger(f, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitUsage
	}
	metrics := telemetry.NewMetrics()
	metrics.SetBuildInfo(buildVersion())
	var access *telemetry.AccessLog
	switch f.accessLog {
	case "off", "":
	case "-":
		access = telemetry.NewAccessLog(stdout, telemetry.WithMetrics(metrics))
	default:
		file, err := os.OpenFile(f.accessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			fmt.Fprintf(stderr, "gantry: opening access log: %v\n", err)
			return exitConfig
		}
		defer file.Close()
		access = telemetry.NewAccessLog(file, telemetry.WithMetrics(metrics))
	}
	if access != nil {
		defer access.Close()
	}

	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	st, err := openStore(sctx, cfg)
	scancel()
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	defer st.Close()

	ctr, err := openCounters(cfg, st, logger, metrics.Backends())
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}

	rc, err := openCache(cfg, logger, metrics)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	defer rc.Close()

	ectx, ecancel := context.WithCancel(context.Background())
	defer ecancel()
	exp, onFinal, err := startExport(ectx, cfg, logger, metrics.Backends())
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	meter, err := metering.New(metering.Options{
		OnFinal:       onFinal,
		Ledger:        st,
		FlushInterval: cfg.Usage.FlushInterval.D(),
		Retention:     cfg.Usage.Retention.D(),
		Versions:      metering.ConfigVersions(cfg),
		Logger:        logger,
		OnFlush:       func(ok bool, _ int, _ error) { metrics.Backends().UsageFlushed(ok) },
		OnDrop:        metrics.Backends().UsageDropped,
	})
	if err != nil {
		fmt.Fprintf(stderr, "gantry: usage: %v\n", err)
		return exitConfig
	}
	meter.Start()
	metrics.Backends().UsagePending(func() float64 { return float64(meter.Pending()) })
	metrics.Backends().UsageFlushLag(func() float64 { return meter.FlushLag().Seconds() })

	tracing, err := telemetry.NewTracing(context.Background(), telemetry.TracingOptions{Config: cfg.Telemetry.Tracing, Version: versionString(), Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "gantry: tracing: %v\n", err)
		return exitConfig
	}
	if tracing != nil {
		logger.Info("tracing on", "endpoint", tracing.Endpoint, "protocol", tracing.Protocol)
	}

	gw, err := server.New(server.Options{ConfigPath: f.config, Config: cfg, Logger: logger, AccessLog: access, Metrics: metrics, Store: st, Meter: meter, Counter: ctr, Cache: rc, Tracing: tracing})
	if err != nil {
		fmt.Fprintf(stderr, "gantry: invalid configuration %s:\n%v\n", f.config, err)
		return exitConfig
	}
	admLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: admin listener on %s: %v\n", cfg.Admin.Listen, err)
		return exitConfig
	}
	admLn = metrics.AdminListener(admLn)
	portalSrv, portalLn, err := startPortal(cfg, gw, st, ctr, logger)
	if err != nil {
		admLn.Close()
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	if err := gw.Listen(); err != nil {
		admLn.Close()
		if portalSrv != nil {
			portalSrv.Close()
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	admSrv := controlServer(admin.Handler(admin.Options{
		Gateway: gw, Token: cfg.Admin.Token, Metrics: metrics.Handler(), Store: st, Logger: logger, Counters: ctr,
		Readiness: admin.Readiness{StorageDriver: cfg.Storage.Driver, CountersDriver: cfg.Counters.Driver,
			CountersDeny: cfg.Counters.OnFailure == "deny", Usage: meter},
		Listen: cfg.Admin.Listen, Addr: admLn.Addr(), AllowedHosts: cfg.Admin.AllowedHosts, AllowedOrigins: cfg.Admin.AllowedOrigins,
		UI: cfg.Admin.UIEnabled(), Gatherer: metrics.Registry(),
	}), logger)
	go func() {
		if err := admSrv.Serve(admLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin listener stopped", "error", err)
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := gw.Watch(ctx); err != nil {
		logger.Warn("not watching the config file; reload with SIGHUP or POST /admin/reload", "error", err)
	}
	// Before the start is announced: a SIGTERM sent as soon as the log
	// says "started" must drain, not kill the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var portalAddr net.Addr
	startLog := []any{"version", versionString(), "listen", gw.Addr().String(), "admin", admLn.Addr().String()}
	if portalLn != nil {
		portalAddr = portalLn.Addr()
		startLog = append(startLog, "portal", portalAddr.String())
	}
	logger.Info("gantry started", append(startLog, "config", f.config)...)
	if ready != nil {
		ready(gw.Addr(), admLn.Addr(), portalAddr)
	}

	awaitStop(gw, sigs, nil)
	lameDuck(gw, cfg.Server.DrainDelay.D(), sigs, logger)
	grace := cfg.Server.ShutdownGrace.D()
	logger.Info("shutting down", "grace", grace.String(), "in_flight", gw.InFlight())
	sctx, scancel = context.WithTimeout(context.Background(), grace)
	defer scancel()
	status := exitOK
	if err := gw.Shutdown(sctx); err != nil {
		logger.Warn("shutdown grace ran out; remaining connections closed", "error", err)
	}
	admSrv.Shutdown(sctx)
	if portalSrv != nil {
		portalSrv.Shutdown(sctx)
	}
	// The spans of the last requests, within what is left of the grace
	// period: an unreachable collector must not hold the exit up.
	if tracing != nil {
		deadline, _ := sctx.Deadline()
		tctx, tcancel := context.WithTimeout(context.Background(), telemetry.ShutdownTimeout(time.Until(deadline)))
		if err := tracing.Shutdown(tctx); err != nil {
			logger.Warn("tracing: not every span was exported", "error", err)
		}
		tcancel()
	}
	// Usage is flushed after the last request finished, with time of its
	// own: a grace period that ran out must not cost counts.
	fctx, fcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer fcancel()
	if err := meter.Close(fctx); err != nil {
		logger.Error("usage not fully flushed", "error", err, "pending", meter.Pending())
		status = exitConfig
	}
	closeCounters(fctx, ctr, st, logger)
	if exp != nil {
		// What cannot be delivered now stays spooled for the next start.
		ecancel()
		xctx, xcancel := context.WithTimeout(context.Background(), 3*time.Second)
		exp.Close(xctx)
		xcancel()
	}
	logger.Info("gantry stopped")
	return status
}

// lameDuck turns /readyz to 503 and keeps the client listener serving
// for delay (server.drain_delay), so that load balancers stop sending new
// connections before the listener closes. A second SIGINT or SIGTERM ends
// the wait early; SIGHUP still reloads.
func lameDuck(gw *server.Server, delay time.Duration, sigs <-chan os.Signal, logger *slog.Logger) {
	gw.Drain()
	if delay <= 0 {
		return
	}
	logger.Info("lame duck: serving on while load balancers notice /readyz", "drain_delay", delay.String())
	t := time.NewTimer(delay)
	defer t.Stop()
	if sig := awaitStop(gw, sigs, t.C); sig != nil {
		logger.Info("second stop signal: ending the lame duck early", "signal", sig.String())
	}
}

// awaitStop reloads gw on every SIGHUP until SIGINT or SIGTERM arrives,
// which it returns, or until timeout (nil: never) fires, reported as nil.
func awaitStop(gw *server.Server, sigs <-chan os.Signal, timeout <-chan time.Time) os.Signal {
	for {
		select {
		case <-timeout:
			return nil
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				return sig
			}
			gw.Reload()
		}
	}
}

func newLogger(f runFlags, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	if f.logFormat != "json" && f.logFormat != "text" {
		return nil, fmt.Errorf("--log-format %q: want json or text", f.logFormat)
	}
	return telemetry.NewLogger(w, level, f.logFormat), nil
}

// startPortal binds and serves the consumer portal when cfg has one
// (portal.listen; restart-only, as admin.listen is). Both results are nil
// without a portal.
func startPortal(cfg *config.Config, gw *server.Server, st store.Store, ctr counter.Counter, logger *slog.Logger) (*http.Server, net.Listener, error) {
	pc := cfg.Portal
	if pc == nil {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", pc.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("portal listener on %s: %w", pc.Listen, err)
	}
	o := portal.Options{
		Store: st, Counters: ctr, Logger: logger, KeyCreated: gw.KeyCreated,
		Plans: func() map[string]*config.Plan { return gw.Plans() },
		Title: pc.Title, Listen: pc.Listen, Addr: ln.Addr(), AllowedHosts: pc.AllowedHosts, AllowedOrigins: pc.AllowedOrigins,
	}
	if len(pc.JWT) > 0 {
		names := pc.JWT
		o.VerifyJWT = func(ctx context.Context, token string) (*pipeline.Consumer, error) {
			return gw.VerifyJWT(ctx, names, token)
		}
	}
	srv := controlServer(portal.Handler(o), logger)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("portal listener stopped", "error", err)
		}
	}()
	return srv, ln, nil
}

// controlServer is the HTTP server of a control-path listener (admin,
// portal): bounded reads and writes, its errors in the process log.
func controlServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}
