package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/examples"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/demo"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

const demoCmdUsage = `Usage:
  gantry demo [--data DIR] [--access-log DEST] [--log-level LEVEL] [--log-format FORMAT]

Starts sample services and the gateway in front of them.

`

// cmdDemo starts the sample services and the gateway in front of them with
// the built-in quickstart config, written to a data directory so that
// editing it there reloads the demo live.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gantry demo", demoCmdUsage, stderr)
	dataDir := fs.String("data", "", "`directory` for the demo's config and logs (default: a new temporary directory)")
	var f runFlags
	f.register(fs, false)
	fs.Lookup("log-level").DefValue = "warn"
	f.logLevel = "warn"
	f.logFormat = "text"
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry demo: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	dir := *dataDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "gantry-demo-"); err != nil {
			fmt.Fprintf(stderr, "gantry demo: %v\n", err)
			return exitConfig
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "gantry demo: %v\n", err)
		return exitConfig
	}
	f.config = filepath.Join(dir, "gantry.yaml")
	if err := os.WriteFile(f.config, examples.Quickstart, 0o644); err != nil {
		fmt.Fprintf(stderr, "gantry demo: %v\n", err)
		return exitConfig
	}
	if f.accessLog == "-" {
		f.accessLog = filepath.Join(dir, "access.log")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := telemetry.NewLogger(stderr, slog.LevelWarn, "text")
	svcs, err := demo.Start(ctx, logger)
	if err != nil {
		fmt.Fprintf(stderr, "gantry demo: %v\n", err)
		return exitConfig
	}
	defer svcs.Close()

	cfg, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "gantry demo: the built-in quickstart config is invalid:\n%v\n", err)
		return exitConfig
	}
	return serve(cfg, f, stdout, stderr, func(gw, adm, portal net.Addr) {
		var portalAddr string
		if portal != nil {
			portalAddr = portal.String()
		}
		demo.Banner(stdout, gw.String(), adm.String(), portalAddr)
		fmt.Fprintln(stdout, "\nSample services:")
		for _, l := range svcs.ServiceLines() {
			fmt.Fprintln(stdout, "  "+l)
		}
		fmt.Fprintf(stdout, "\nConfig: %s (edit it and save: the gateway reloads)\nAccess log: %s\n", f.config, f.accessLog)
	})
}
