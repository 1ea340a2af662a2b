//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package export

// lockDir does nothing where flock is missing: each process must be given
// its own spool dir.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
