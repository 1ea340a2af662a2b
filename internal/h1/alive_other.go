//go:build !unix

package h1

// alive cannot peek without blocking here; a connection the upstream closed
// fails on use and a replayable request is sent again.
func alive(*conn) bool { return true }
