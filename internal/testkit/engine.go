package testkit

import (
	"os"
	"regexp"
	"strconv"
	"strings"
)

// withEngine sets server.engine to engine in the config file at path,
// unless the file sets it already. GANTRY_TEST_ENGINE=net/http runs a
// suite on the other serving engine: every test that starts the binary
// through Start or StartFile is then served by it.
func withEngine(path, engine string) error {
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
