package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/open"
)

// openStore opens the storage a config file names. A relative SQLite path
// is taken relative to the config file, so the gateway, the CLI and the
// demo agree on one database whatever the working directory.
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	dsn := storageDSN(cfg)
	st, err := open.Open(ctx, cfg.Storage.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s storage: %w", cfg.Storage.Driver, err)
	}
	return st, nil
}

func storageDSN(cfg *config.Config) string {
	dsn := cfg.Storage.DSN
	if cfg.Storage.Driver == "sqlite" && !strings.HasPrefix(dsn, "file:") && dsn != ":memory:" {
		dsn = nextToConfig(cfg, dsn)
	}
	return dsn
}

// nextToConfig resolves a relative path against the config file's
// directory, so a gateway started from anywhere finds the same files.
func nextToConfig(cfg *config.Config, p string) string {
	if filepath.IsAbs(p) || cfg.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(cfg.File), p)
}

// storeCommand parses the common flags of the storage commands and opens
// the configured storage.
func storeCommand(name string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (store.Store, *flag.FlagSet, int) {
	fs := flag.NewFlagSet("gantry "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "gantry.yaml", "configuration `file`")
	fs.StringVar(path, "c", "gantry.yaml", "configuration `file` (shorthand)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, exitUsage
	}
	_, st, code := loadStore(*path, stderr)
	return st, fs, code
}

const consumersUsage = `Usage:
  gantry consumers create [-c FILE] [--plan PLAN] [--groups a,b] ID
  gantry consumers list   [-c FILE] [--json]
  gantry consumers delete [-c FILE] ID
`

func cmdConsumers(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, consumersUsage)
		return exitUsage
	}
	var plan, groups string
	var asJSON bool
	st, fs, code := storeCommand("consumers "+args[0], args[1:], stderr, func(fs *flag.FlagSet) {
		switch args[0] {
		case "create":
			fs.StringVar(&plan, "plan", "", "the consumer's `plan`")
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
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, consumersUsage)
			return exitUsage
		}
		c := store.Consumer{ID: fs.Arg(0), Plan: plan, Groups: splitList(groups), Source: store.SourceAPI}
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
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, consumersUsage)
			return exitUsage
		}
		if err := st.DeleteConsumer(ctx, fs.Arg(0)); err != nil {
			return storeFailure(stderr, err)
		}
		fmt.Fprintf(stdout, "deleted consumer %s\n", fs.Arg(0))
	default:
		fmt.Fprint(stderr, consumersUsage)
		return exitUsage
	}
	return exitOK
}

const keysUsage = `Usage:
  gantry keys create [-c FILE] CONSUMER      prints the new key once
  gantry keys list   [-c FILE] CONSUMER
  gantry keys revoke [-c FILE] CONSUMER KEY_ID
`

func cmdKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return exitUsage
	}
	st, fs, code := storeCommand("keys "+args[0], args[1:], stderr, nil)
	if st == nil {
		return code
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch {
	case args[0] == "create" && fs.NArg() == 1:
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
	case args[0] == "list" && fs.NArg() == 1:
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
	case args[0] == "revoke" && fs.NArg() == 2:
		if err := st.RevokeKey(ctx, fs.Arg(0), fs.Arg(1)); err != nil {
			return storeFailure(stderr, err)
		}
		fmt.Fprintf(stdout, "revoked key %s of %s\n", fs.Arg(1), fs.Arg(0))
	default:
		fmt.Fprint(stderr, keysUsage)
		return exitUsage
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
