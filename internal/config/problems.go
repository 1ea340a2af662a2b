package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration: where it is (key path and
// line) and what would be accepted instead.
type Problem struct {
	// File is the config file's path, "" when parsed from bytes.
	File string `json:"file,omitempty"`
	// Line is the 1-based line in the file, 0 when unknown.
	Line int `json:"line,omitempty"`
	// Path is the key path: "routes[2].upstream", "upstreams.users.targets[0].url".
	Path string `json:"path,omitempty"`
	// Message says what is wrong and what would be accepted.
	Message string `json:"message"`
}

// Error formats p as "gantry.yaml:12: routes[2].upstream: message", leaving
// out the parts that are unknown ("line 12: ..." without a file name).
func (p Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File + ":" + strconv.Itoa(p.Line) + ": ")
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in a configuration. It is the error type
// Parse, Load and Validate return; use errors.As to list the problems.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when there are no problems. It avoids
// the typed-nil trap of returning an empty Problems as error.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Sort orders problems by file, then line, then path, so they read top to
// bottom. Problems without a line come last in their file.
func (ps Problems) Sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(a.Path, b.Path))
	})
}

// Problem builds a problem at path, placed at the line of path in the file,
// or of its nearest parent that has one. With several files, it names the
// file that set path, and the path as that file reads it (LocalPath).
func (c *Config) Problem(path, format string, args ...any) Problem {
	return Problem{File: c.FileOf(path), Line: c.Line(path), Path: c.LocalPath(path), Message: fmt.Sprintf(format, args...)}
}

// Line returns the line of path in the file, or that of its nearest parent
// ("routes[2].match.path" falls back to "routes[2].match", then
// "routes[2]"). It returns 0 when nothing is known.
func (c *Config) Line(path string) int {
	for path != "" {
		if l, ok := c.Lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// Locate fills in the file and missing lines of problems produced outside
// this package (router compile, plugins) and sorts them by line. A problem
// without a file is taken to be at a path of the merged configuration and
// placed as Problem places it.
func (c *Config) Locate(ps Problems) Problems {
	out := make(Problems, len(ps))
	for i, p := range ps {
		if p.File == "" {
			p.File = c.FileOf(p.Path)
			if p.Line == 0 {
				p.Line = c.Line(p.Path)
			}
			p.Path = c.LocalPath(p.Path)
		}
		if p.Line == 0 {
			p.Line = c.Line(p.Path)
		}
		out[i] = p
	}
	out.Sort()
	return out
}

// parentPath strips the last element of a key path: "a.b[2]" -> "a.b",
// "a.b" -> "a", "a" -> "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// join appends key to a key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a key path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// problemList collects problems during validation.
type problemList struct {
	c  *Config
	ps Problems
}

func (l *problemList) add(path, format string, args ...any) {
	l.ps = append(l.ps, l.c.Problem(path, format, args...))
}
