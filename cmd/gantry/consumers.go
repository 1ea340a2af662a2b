package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/open"
)

// openStore opens the storage a config file names. config.Load has
// already made a relative SQLite path relative to the config file, so the
// gateway, the CLI and the demo agree on one database whatever the
// working directory.
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	st, err := open.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		return nil, fmt.Errorf("opening %s storage: %w", cfg.Storage.Driver, err)
	}
	return st, nil
}

// storeCommand parses `gantry GROUP SUB [flags] ARGS...` for the storage
// commands. Everything about the command line is settled before any
// configuration is read: help (`gantry GROUP -h`, `gantry GROUP SUB -h`)
// is printed to stdout with status 0, a bad command line is reported on
// stderr with status 2, and only then is the config loaded and the
// storage opened. subs maps each subcommand to its number of positional
// arguments; flags adds a subcommand's own flags. st is nil when the
// command is finished, with code its exit status.
func storeCommand(group, usage string, args []string, stdout, stderr io.Writer, subs map[string]int, flags func(sub string, fs *flag.FlagSet)) (st store.Store, cfg *config.Config, fs *flag.FlagSet, code int) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return nil, nil, nil, exitUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return nil, nil, nil, exitOK
	}
	sub := args[0]
	nargs, ok := subs[sub]
	if !ok {
		fmt.Fprintf(stderr, "gantry %s: unknown command %q\n\n%s", group, sub, usage)
		return nil, nil, nil, exitUsage
	}
	fs = newFlagSet("gantry "+group+" "+sub, usage+"\nFlags of gantry "+group+" "+sub+":\n", stderr)
	path := fs.String("config", "gantry.yaml", "configuration `file`, or a directory of them")
	fs.StringVar(path, "c", "gantry.yaml", "configuration `file` or directory (shorthand)")
	if flags != nil {
		flags(sub, fs)
	}
	if code, ok := parseFlags(fs, args[1:], stdout); !ok {
		return nil, nil, nil, code
	}
	if fs.NArg() != nargs {
		fmt.Fprintf(stderr, "gantry %s %s: want %d argument(s), got %d\n\n", group, sub, nargs, fs.NArg())
		fs.Usage()
		return nil, nil, nil, exitUsage
	}
	cfg, st, code = loadStore(*path, stderr)
	return st, cfg, fs, code
}

const consumersUsage = `Usage:
  gantry consumers create [-c FILE] [--plan PLAN] [--groups a,b] ID
  gantry consumers list   [-c FILE] [--json]
  gantry consumers delete [-c FILE] ID

The plan must be one the configuration defines, as with the admin API.
`

func cmdConsumers(args []string, stdout, stderr io.Writer) int {
	var plan, groups string
	var asJSON bool
	st, cfg, fs, code := storeCommand("consumers", consumersUsage, args, stdout, stderr,
		map[string]int{"create": 1, "list": 0, "delete": 1},
		func(sub string, fs *flag.FlagSet) {
			switch sub {
			case "create":
				fs.StringVar(&plan, "plan", "", "the consumer's `plan`, one the configuration defines")
				fs.StringVar(&groups, "groups", "", "comma-separated `groups`")
			case "list":
				fs.BoolVar(&asJSON, "json", false, "print JSON")
			}
		})
	if st == nil {
		return code
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch args[0] {
	case "create":
		c := store.Consumer{ID: fs.Arg(0), Plan: plan, Groups: splitList(groups), Source: store.SourceAPI}
		// The admin API's own check: the CLI accepts and refuses the same.
		if err := config.CheckNewConsumer(cfg.Plans, c.ID, c.Plan, c.Groups); err != nil {
			fmt.Fprintf(stderr, "gantry consumers create: %v\n", err)
			return exitConfig
		}
		if err := st.CreateConsumer(ctx, c); err != nil {
			return storeFailure(stderr, err)
		}
		fmt.Fprintf(stdout, "created consumer %s\n", c.ID)
	case "list":
		cs, err := st.ListConsumers(ctx)
		if err != nil {
			return storeFailure(stderr, err)
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(cs)
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPLAN\tGROUPS\tSOURCE")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Plan, strings.Join(c.Groups, ","), c.Source)
		}
		tw.Flush()
	case "delete":
		if err := st.DeleteConsumer(ctx, fs.Arg(0)); err != nil {
			return storeFailure(stderr, err)
		}
		fmt.Fprintf(stdout, "deleted consumer %s\n", fs.Arg(0))
	}
	return exitOK
}

const keysUsage = `Usage:
  gantry keys create [-c FILE] CONSUMER      prints the new key once
  gantry keys list   [-c FILE] CONSUMER
  gantry keys revoke [-c FILE] CONSUMER KEY_ID
`

func cmdKeys(args []string, stdout, stderr io.Writer) int {
	st, _, fs, code := storeCommand("keys", keysUsage, args, stdout, stderr,
		map[string]int{"create": 1, "list": 1, "revoke": 2}, nil)
	if st == nil {
		return code
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch args[0] {
	case "create":
		plain, k, err := keyauth.Generate()
		if err != nil {
			fmt.Fprintf(stderr, "gantry: %v\n", err)
			return exitConfig
		}
		k.ConsumerID, k.Source = fs.Arg(0), store.SourceAPI
		if err := st.CreateKey(ctx, k); err != nil {
			return storeFailure(stderr, err)
		}
		fmt.Fprintf(stdout, "key id: %s\nkey:    %s\n(the key is shown only now; store it safely)\n", k.ID, plain)
	case "list":
		ks, err := st.ListKeys(ctx, fs.Arg(0))
		if err != nil {
			return storeFailure(stderr, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tSOURCE\tCREATED\tREVOKED")
		for _, k := range ks {
			rev := ""
			if k.RevokedAt != nil {
				rev = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Source, k.CreatedAt.UTC().Format(time.RFC3339), rev)
		}
		tw.Flush()
	case "revoke":
		if err := st.RevokeKey(ctx, fs.Arg(0), fs.Arg(1)); err != nil {
			return storeFailure(stderr, err)
		}
		fmt.Fprintf(stdout, "revoked key %s of %s\n", fs.Arg(1), fs.Arg(0))
	}
	return exitOK
}

func storeFailure(stderr io.Writer, err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintln(stderr, "gantry: no such consumer or key")
	case errors.Is(err, store.ErrExists):
		fmt.Fprintln(stderr, "gantry: a consumer with this id already exists")
	case errors.Is(err, store.ErrReadOnly):
		fmt.Fprintln(stderr, "gantry: this consumer is defined in the config file; change it there")
	default:
		fmt.Fprintf(stderr, "gantry: %v\n", err)
	}
	return exitConfig
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
