package config

import (
	"fmt"
	"regexp"
)

// newConsumerID is what a consumer created at run time (admin API or
// `gantry consumers create`) may be called: it ends up in headers, metrics
// and invoices.
var newConsumerID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`)

// CheckNewConsumer reports the first thing wrong with a consumer created
// at run time, against plans (the configuration's plans): an id of 1-128
// letters, digits, _ . @ - starting with a letter or digit, a plan the
// configuration defines (or none), and groups of 1-128 characters that
// the configuration would accept too (validGroup). The
// admin API and the CLI both call it, so they accept and refuse the same
// consumers. The error reads "field: problem".
func CheckNewConsumer(plans map[string]*Plan, id, plan string, groups []string) error {
	if !newConsumerID.MatchString(id) {
		return fmt.Errorf("id: want 1-128 characters of letters, digits, _ . @ -, starting with a letter or digit, got %q", id)
	}
	if plan != "" && plans[plan] == nil {
		return fmt.Errorf("plan: no plan named %q (known: %s)", plan, known(plans))
	}
	for _, g := range groups {
		if !validGroup(g) || len(g) > 128 {
			return fmt.Errorf("groups: names must be 1-128 characters without commas or spaces, got %q", g)
		}
	}
	return nil
}
