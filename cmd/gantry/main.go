// Command gantry is the Gantry API gateway: `gantry run`, `gantry validate`,
// `gantry schema`, `gantry import`, `gantry demo`, the storage commands and `gantry version`. It parses flags
// and wires packages together; the logic lives in internal/.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit statuses, as the contract fixes them.
const (
	exitOK     = 0
	exitConfig = 1
	exitUsage  = 2
)

const usage = `Gantry, an API gateway.

Usage:
  gantry run      [--config FILE]   serve until SIGINT/SIGTERM; SIGHUP reloads
  gantry validate [--config FILE]   check a configuration file and exit
  gantry schema                     print the configuration's JSON Schema
  gantry import   kong|gateway-api|openapi FILE  translate another gateway's config
  gantry demo     [--data DIR]      start sample services and the gateway in front of them
  gantry consumers create|list|delete  manage consumers in the configured storage
  gantry keys create|list|revoke       manage a consumer's API keys
  gantry usage    [--consumer ID] ...  usage report from the configured storage
  gantry invoice  --consumer ID ...    a consumer's invoice for a month
  gantry health   [--url URL]       exit 0 if a running gateway's /healthz answers 200
  gantry version                    print the version, commit, build date and Go version

The default configuration file is ./gantry.yaml; --config may also name a
directory, whose *.yaml files are merged. Run "gantry COMMAND -h" for a
command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "schema":
		return cmdSchema(args[1:], stdout, stderr)
	case "import":
		return cmdImport(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "consumers":
		return cmdConsumers(args[1:], stdout, stderr)
	case "keys":
		return cmdKeys(args[1:], stdout, stderr)
	case "usage":
		return cmdUsage(args[1:], stdout, stderr)
	case "invoice":
		return cmdInvoice(args[1:], stdout, stderr)
	case "health":
		return cmdHealth(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		printVersion(stdout)
		return exitOK
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "gantry: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
