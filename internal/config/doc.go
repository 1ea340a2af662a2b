// Package config decodes, defaults and validates Gantry's YAML configuration
// (format version 1, see docs/config.md).
//
// It is the first step of the control path: config.Load → Validate →
// router.Compile → server swap. Load and Parse decode strictly: every
// unknown or duplicate key and every value of the wrong type is reported
// with its key path and line, ${NAME} is replaced by the environment
// variable NAME, then SetDefaults fills in what the file left out and
// Validate checks the whole. Validation is pure (no I/O) and reports every
// problem at once, each saying what would be accepted.
//
// Problems is the error type of all three. Later steps (router compile,
// plugins) report their own problems by key path and place them in the
// file with Config.Problem or Config.Locate.
//
// It must not import any other internal package but pipeline.
package config
