//go:build !linux

package server

// releaseCode gives back the executable's resident pages; only Linux
// does (see code_linux.go).
func releaseCode() int64 { return 0 }
