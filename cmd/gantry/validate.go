package main

import (
	"fmt"
	"io"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

const validateCmdUsage = `Usage:
  gantry validate [-c FILE | FILE]

Checks a configuration file (or a directory of them, merged) as gantry run
would at start: prints ok and
exits 0, or prints the problems and exits 1. Warnings (a certificate
that expires within 14 days) are printed first and fail nothing.

`

// cmdValidate runs decode → Validate → plan (server.Check, the pure step of
// every start and reload) and discards the result.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gantry validate", validateCmdUsage, stderr)
	path := fs.String("config", "gantry.yaml", "configuration `file`, or a directory of them")
	fs.StringVar(path, "c", "gantry.yaml", "configuration `file` or directory (shorthand)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() == 1 && *path == "gantry.yaml" {
		*path = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry validate: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := config.Load(*path)
	var warnings []string
	if err == nil {
		warnings, err = server.Check(cfg)
	}
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(stdout, "%v\n", err)
		return exitConfig
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}
