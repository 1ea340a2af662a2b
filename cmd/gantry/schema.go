package main

import (
	"fmt"
	"io"

	"github.com/gantry-dev/gantry/internal/config/schema"
)

const schemaCmdUsage = `Usage:
  gantry schema

Prints the JSON Schema (draft 2020-12) of the configuration file, generated
from the configuration types, for editors and CI:

  gantry schema > gantry.schema.json

and, first in a configuration file:

  # yaml-language-server: $schema=gantry.schema.json

`

func cmdSchema(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gantry schema", schemaCmdUsage, stderr)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry schema: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	b, err := schema.Generate()
	if err != nil {
		fmt.Fprintf(stderr, "gantry schema: %v\n", err)
		return exitConfig
	}
	stdout.Write(b)
	return exitOK
}
