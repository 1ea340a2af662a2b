// Package examples holds Gantry's example configurations and builds them
// into the binary, so `gantry demo` works from any directory.
//
//   - quickstart.yaml is what `gantry demo` runs: the gateway in front of the
//     sample services of internal/demo, on loopback only.
//   - full.yaml shows every configuration key with its meaning; it is
//     documentation, not something to run as is.
//
// The files are the source of truth; this package only embeds them. It sits
// on the control path before config.Parse and must not import any other
// Gantry package.
package examples

import _ "embed"

// Quickstart is quickstart.yaml, the configuration `gantry demo` runs.
//
//go:embed quickstart.yaml
var Quickstart []byte

// Full is full.yaml, every configuration key explained.
//
//go:embed full.yaml
var Full []byte
