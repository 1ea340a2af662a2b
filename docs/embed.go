// Package docs holds Gantry's reference pages and builds the
// configuration reference into the binary, so that `gantry schema` can
// describe every key in the words the reference uses.
//
// The Markdown files are the source of truth; this package only embeds
// them. It must not import any other Gantry package.
package docs

import _ "embed"

// Config is config.md, the configuration reference.
//
//go:embed config.md
var Config string
