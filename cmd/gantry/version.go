package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time by `make build`:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<sha> -X main.buildDate=<RFC 3339>"
//
// buildDate is the commit's date, so that a rebuild of the same commit is
// byte for byte the same binary. A plain `go build` in a git checkout
// falls back to the VCS stamp Go embeds, and `go install …@v1.2.3` to the
// module version.
var (
	version   = ""
	commit    = ""
	buildDate = ""
)

// buildStamp is what `gantry version` prints.
type buildStamp struct {
	Version, Commit, Date, Go, Platform string
	Modified                            bool
}

func currentStamp() buildStamp {
	bi, _ := debug.ReadBuildInfo()
	return stampFrom(bi, version, commit, buildDate)
}

// stampFrom fills what the linker flags left empty from bi (which may be
// nil) and "unknown".
func stampFrom(bi *debug.BuildInfo, ver, rev, date string) buildStamp {
	s := buildStamp{Version: ver, Commit: rev, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if s.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			s.Version = bi.Main.Version
		}
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				if s.Commit == "" {
					s.Commit = kv.Value
				}
			case "vcs.time":
				if s.Date == "" {
					s.Date = kv.Value
				}
			case "vcs.modified":
				s.Modified = rev == "" && kv.Value == "true"
			}
		}
	}
	if s.Version == "" {
		s.Version = "dev"
	}
	if s.Commit == "" {
		s.Commit = "unknown"
	}
	if s.Date == "" {
		s.Date = "unknown"
	}
	return s
}

// versionString is the one-line version the logs and traces carry:
// "gantry v1.2.3 (go1.26.8 linux/amd64)".
func versionString() string {
	s := currentStamp()
	return "gantry " + s.Version + " (" + s.Go + " " + s.Platform + ")"
}

// buildVersion is the gateway's version: set at build time, else the
// module's, else "dev".
func buildVersion() string {
	return currentStamp().Version
}

// printVersion writes `gantry version`'s output.
func printVersion(w io.Writer) {
	s := currentStamp()
	c := s.Commit
	if s.Modified {
		c += " (modified)"
	}
	fmt.Fprintf(w, "%s\ncommit:     %s\nbuilt:      %s\ngo:         %s\nplatform:   %s\n", versionString(), c, s.Date, s.Go, s.Platform)
}
