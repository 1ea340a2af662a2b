// Package open picks the store implementation named by the configuration
// (storage.driver) and opens it. It is part of the control path, used once
// at start by the server and by the CLI commands that manage consumers and
// keys.
//
// It lives apart from package store because the implementations import
// store for its types; a switch inside store would be an import cycle.
package open
