// Package router compiles the configuration's routes into an immutable
// Table and matches requests against it.
//
// It is one step on each of the two paths:
//
//	control: config.Load → config.Validate → router.Compile → server swap
//	request: server → router.Table.Match → route chain → terminal
//
// Compile parses every route's path pattern, prefix, hosts, header matches,
// version, rewrite and strip_prefix once, has the caller build each route's
// handler, and reports every problem with its key path. It does no I/O and
// starts no goroutines, so "gantry validate" runs it too. Match then picks
// a route without scanning the routes: a map per host for exact hosts and
// for wildcard suffixes, and within each host bucket an index of exact
// paths (a short list up to 8, then a map, as for the tries' edges), a
// segment trie of patterns and a segment trie of prefixes. A static match
// allocates nothing; a pattern match allocates only its parameters.
//
// Paths given to Match are canonical (decoded, slashes merged, no dot
// segments): canonicalization and its refusals belong to the server, and
// patterns here are checked to be ones a canonical path can match.
// ForwardPath returns unescaped paths; escaping them for the upstream URL is
// the caller's job.
//
// The package must not import server, route, proxy or any plugin: it
// matches, and the caller's BuildFunc keeps what serves each route, found
// again by the matched Route's Index.
package router
