package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// parseOrHelp parses args with fs; asked for help (-h, --help), it prints
// fs's usage to stdout instead of the error output and returns
// flag.ErrHelp, which the caller answers with exit status 0.
func parseOrHelp(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	errOut := fs.Output()
	usage := fs.Usage
	if usage == nil {
		usage = fs.PrintDefaults
	}
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		usage()
		fs.SetOutput(errOut)
	case err != nil:
		usage()
	}
	return err
}

// newFlagSet returns the flag set of the command name: its errors go to
// stderr, and its usage is text followed by the flags.
func newFlagSet(name, text string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), text); fs.PrintDefaults() }
	return fs
}

// parseFlags parses args with fs (see parseOrHelp). ok reports that the
// command goes on; otherwise it is finished with exit status code: exitOK
// after help, exitUsage after a bad command line.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	err := parseOrHelp(fs, args, stdout)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	}
	return exitUsage, false
}
