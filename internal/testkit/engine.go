package testkit

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// withEngine sets server.engine to engine in the config file at path,
// unless the file sets it already. GANTRY_TEST_ENGINE=net/http runs a
// suite on the other serving engine: every test that starts the binary
// through Start or StartFile is then served by it. For a config
// directory, the file with the server section is edited (the first file
// when none has one).
func withEngine(path, engine string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		files, err := filepath.Glob(filepath.Join(path, "*.y*ml"))
		if err != nil || len(files) == 0 {
			return err
		}
		path = files[0]
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && (flowServer.Match(b) || blockServer.Match(b)) {
				path = f
				break
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	if strings.Contains(s, "engine:") {
		return nil
	}
	q := strconv.Quote(engine)
	if loc := flowServer.FindStringIndex(s); loc != nil {
		s = s[:loc[1]] + "engine: " + q + ", " + s[loc[1]:]
	} else if m := blockServer.FindStringSubmatchIndex(s); m != nil {
		indent := s[m[2]:m[3]]
		s = s[:m[1]-len(indent)] + indent + "engine: " + q + "\n" + s[m[1]-len(indent):]
	} else {
		s += "\nserver:\n  engine: " + q + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o600)
}

var (
	flowServer  = regexp.MustCompile(`(?m)^server:[ \t]*\{`)
	blockServer = regexp.MustCompile(`(?m)^server:[ \t]*\n(?:[ \t]*(?:#.*)?\n)*([ \t]+)`)
)
