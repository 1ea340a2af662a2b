package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/importer"
	"github.com/gantry-dev/gantry/internal/server"
)

const importCmdUsage = `Usage:
  gantry import kong|gateway-api|openapi [-o FILE] [--target NAME=URL]... [--upstream NAME] FILE

Translates another gateway's declarative configuration into a Gantry
configuration, written to stdout or to -o FILE:

  kong         a Kong decK file (_format_version "3.0")
  gateway-api  Kubernetes Gateway API manifests (HTTPRoute, Gateway)
  openapi      an OpenAPI 3 document: one route per path and operation

Every item that is not translated, or only in part, is listed on stderr
with its line in FILE. The result is checked as gantry validate checks a
file; the exit status is 1 when it does not pass.

`

// targetFlags collects repeated --target NAME=URL flags.
type targetFlags map[string]string

func (t targetFlags) String() string { return "" }

func (t targetFlags) Set(s string) error {
	name, u, ok := strings.Cut(s, "=")
	if !ok || name == "" || u == "" {
		return errors.New("want NAME=URL")
	}
	t[name] = u
	return nil
}

func cmdImport(args []string, stdout, stderr io.Writer) int {
	formats := map[string]func([]byte, importer.Options) (*importer.Result, error){
		"kong":        importer.Kong,
		"gateway-api": importer.GatewayAPI,
		"openapi":     importer.OpenAPI,
	}
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, importCmdUsage)
		return exitOK
	}
	if len(args) == 0 || formats[args[0]] == nil {
		fmt.Fprint(stderr, importCmdUsage)
		return exitUsage
	}
	format, translate := args[0], formats[args[0]]
	fs := newFlagSet("gantry import", importCmdUsage, stderr)
	out := fs.String("o", "", "write the configuration to `file` instead of stdout")
	upstream := fs.String("upstream", "", "`name` of the upstream an OpenAPI document's routes go to (default: its title)")
	targets := targetFlags{}
	fs.Var(targets, "target", "`NAME=URL`: reach the backend NAME (a Kong service, a Kubernetes Service, the OpenAPI upstream) at URL; repeatable")
	rest := args[1:]
	var files []string
	for {
		if code, ok := parseFlags(fs, rest, stdout); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "gantry import %s: want one FILE, got %d\n", format, len(files))
		return exitUsage
	}
	src := files[0]
	data, err := os.ReadFile(src)
	if err != nil {
		fmt.Fprintf(stderr, "gantry import: %v\n", err)
		return exitConfig
	}
	res, err := translate(data, importer.Options{Targets: targets, Upstream: *upstream})
	if err != nil {
		fmt.Fprintf(stderr, "gantry import: %s: %v\n", src, err)
		return exitConfig
	}
	header := []string{fmt.Sprintf("Imported from %s (%s) by gantry import.", src, format)}
	if n := len(res.Notes); n > 0 {
		header = append(header, fmt.Sprintf("%d items of the source were not translated, or only in part; gantry import listed them.", n))
	}
	b, err := importer.Render(res.Config, header)
	if err != nil {
		fmt.Fprintf(stderr, "gantry import: %v\n", err)
		return exitConfig
	}
	for _, n := range res.Notes {
		if n.Line > 0 {
			fmt.Fprintf(stderr, "%s:%d: %s\n", src, n.Line, n.Message)
		} else {
			fmt.Fprintf(stderr, "%s: %s\n", src, n.Message)
		}
	}
	if *out == "" {
		stdout.Write(b)
	} else if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintf(stderr, "gantry import: %v\n", err)
		return exitConfig
	}
	fmt.Fprintf(stderr, "gantry import: %d routes, %d upstreams, %d consumers; %d items not translated\n",
		len(res.Config.Routes), len(res.Config.Upstreams), len(res.Config.Consumers), len(res.Notes))
	cfg, err := config.Parse(b, *out)
	if err == nil {
		_, err = server.Check(cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gantry import: the result does not validate; fix it by hand:\n%v\n", err)
		return exitConfig
	}
	return exitOK
}
