// Package schema generates the JSON Schema (draft 2020-12) of Gantry's
// configuration file from the config types, so that editors complete and
// check keys as the decoder does.
//
// It reflects over internal/config's structs and their yaml tags (every
// mapping is closed, as the decoder refuses unknown keys), gives the
// custom scalars (durations, sizes, amounts) the shapes their decoders
// accept, and takes each key's description and default from the
// configuration reference (docs/config.md), whose table rows a test in
// internal/config keeps in step with the types. Enumerations live here
// and a test checks them against config.Parse.
//
// It sits beside the control path, not on it: `gantry schema` prints what
// Generate returns, and the committed gantry.schema.json is checked
// against it. It must not import anything above internal/config.
package schema
