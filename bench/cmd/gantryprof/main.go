// Command gantryprof runs the gateway in-process, wired as `gantry run`
// wires it, so the benchmark harness can profile it under load (the
// gateway itself has no profiling endpoint). It logs the same
// "gantry started" line, then:
//
//	SIGUSR1  start the CPU profile and mutex sampling; snapshot allocations
//	SIGUSR2  stop; write cpu.pprof, allocs-start.pprof, allocs.pprof,
//	         mutex.pprof and stats.json (allocations in the window) into -out
//	SIGINT, SIGTERM  shut down
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/store/open"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// stats are the allocations between SIGUSR1 and SIGUSR2.
type stats struct {
	Mallocs    uint64  `json:"mallocs"`
	AllocBytes uint64  `json:"alloc_bytes"`
	GCCycles   uint32  `json:"gc_cycles"`
	GCPauseNS  uint64  `json:"gc_pause_ns"`
	Seconds    float64 `json:"seconds"`
	Goroutines int     `json:"goroutines"`
	HeapInuse  uint64  `json:"heap_inuse"`
}

func main() {
	cfgPath := flag.String("c", "gantry.yaml", "configuration `file`")
	accessLog := flag.String("access-log", os.DevNull, "access log `file`, or off")
	out := flag.String("out", ".", "`dir`ectory for the profiles")
	rate := flag.Int("memprofilerate", 0, "record one allocation per this many `bytes`; 1 records every one (exact counts, slow); 0 keeps the runtime's 512 KiB")
	flag.Parse()
	if *rate > 0 {
		runtime.MemProfileRate = *rate
	}
	if err := run(*cfgPath, *accessLog, *out); err != nil {
		fmt.Fprintf(os.Stderr, "gantryprof: %v\n", err)
		os.Exit(1)
	}
}

func run(cfgPath, accessPath, out string) error {
	logger := telemetry.NewLogger(os.Stderr, slog.LevelInfo, "json")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	metrics := telemetry.NewMetrics()
	var access *telemetry.AccessLog
	if accessPath != "off" {
		f, err := os.OpenFile(accessPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		defer f.Close()
		access = telemetry.NewAccessLog(f, telemetry.WithMetrics(metrics))
		defer access.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	dsn := cfg.Storage.DSN
	if cfg.Storage.Driver != "postgres" && dsn != "" && !filepath.IsAbs(dsn) {
		dsn = filepath.Join(filepath.Dir(cfgPath), dsn)
	}
	st, err := open.Open(ctx, cfg.Storage.Driver, dsn)
	cancel()
	if err != nil {
		return err
	}
	defer st.Close()
	gw, err := server.New(server.Options{Config: cfg, Logger: logger, AccessLog: access, Metrics: metrics, Store: st})
	if err != nil {
		return err
	}
	if err := gw.Listen(); err != nil {
		return err
	}
	logger.Info("gantry started", "listen", gw.Addr().String(), "config", cfgPath)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGTERM)
	var (
		cpuFile *os.File
		before  runtime.MemStats
		started time.Time
	)
	for sig := range sigs {
		switch sig {
		case syscall.SIGUSR1:
			if cpuFile != nil {
				continue
			}
			if cpuFile, err = os.Create(filepath.Join(out, "cpu.pprof")); err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(cpuFile); err != nil {
				return err
			}
			runtime.SetMutexProfileFraction(10)
			if err := writeProfile("allocs", filepath.Join(out, "allocs-start.pprof")); err != nil {
				return err
			}
			runtime.ReadMemStats(&before)
			started = time.Now()
			logger.Info("profiling")
		case syscall.SIGUSR2:
			if cpuFile == nil {
				continue
			}
			pprof.StopCPUProfile()
			cpuFile.Close()
			cpuFile = nil
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			s := stats{
				Mallocs:    after.Mallocs - before.Mallocs,
				AllocBytes: after.TotalAlloc - before.TotalAlloc,
				GCCycles:   after.NumGC - before.NumGC,
				GCPauseNS:  after.PauseTotalNs - before.PauseTotalNs,
				Seconds:    time.Since(started).Seconds(),
				Goroutines: runtime.NumGoroutine(),
				HeapInuse:  after.HeapInuse,
			}
			runtime.SetMutexProfileFraction(0)
			for name, file := range map[string]string{"allocs": "allocs.pprof", "mutex": "mutex.pprof"} {
				if err := writeProfile(name, filepath.Join(out, file)); err != nil {
					return err
				}
			}
			// stats.json is written last: its presence means every
			// profile is complete.
			b, _ := json.MarshalIndent(s, "", "  ")
			if err := os.WriteFile(filepath.Join(out, "stats.json"), b, 0o644); err != nil {
				return err
			}
			logger.Info("profiles written", "dir", out)
		default:
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			return gw.Shutdown(sctx)
		}
	}
	return nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
