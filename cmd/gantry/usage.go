package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-dev/gantry/internal/billing"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
	// Imported under another name: main already has a usage text.
	metering "github.com/gantry-dev/gantry/internal/usage"
)

const usageCmdUsage = `Usage:
  gantry usage [-c FILE] [--consumer ID] [--from DATE] [--to DATE]
               [--group-by day|hour|route|model] [--format table|json|csv]

DATE is YYYY-MM-DD (midnight UTC) or an RFC 3339 time; --to is exclusive.
Without --from and --to: the current UTC month. Without --consumer: every
consumer.
`

const invoiceCmdUsage = `Usage:
  gantry invoice [-c FILE] --consumer ID [--period YYYY-MM] [--format table|json]

Without --period: the current UTC month.
`

// usageFlags are the parsed flags of gantry usage.
type usageFlags struct {
	help   bool // -h: the usage went to stdout
	config string
	query  store.UsageQuery
	format string
}

// flagOf names a report parameter as the command line spells it.
var flagOf = map[string]string{"consumer": "--consumer", "from": "--from", "to": "--to", "group_by": "--group-by"}

// parseUsageFlags reads gantry usage's flags; a problem is printed to
// stderr and reported as false.
func parseUsageFlags(args []string, stdout, stderr io.Writer, now time.Time) (usageFlags, bool) {
	fs := newFlagSet("gantry usage", usageCmdUsage, stderr)
	var f usageFlags
	var consumer, from, to, groupBy string
	fs.StringVar(&f.config, "config", "gantry.yaml", "configuration `file`, or a directory of them")
	fs.StringVar(&f.config, "c", "gantry.yaml", "configuration `file` or directory (shorthand)")
	fs.StringVar(&consumer, "consumer", "", "the consumer `id` (default: every consumer)")
	fs.StringVar(&from, "from", "", "start `date`, inclusive (default: the first of this month)")
	fs.StringVar(&to, "to", "", "end `date`, exclusive (default: the first of next month)")
	fs.StringVar(&groupBy, "group-by", "", "group by day, hour, route or model (default: one total per consumer)")
	fs.StringVar(&f.format, "format", "table", "output: table, json or csv")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		f.help = code == exitOK
		return f, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry usage: unexpected argument %q\n%s", fs.Arg(0), usageCmdUsage)
		return f, false
	}
	if f.format != "table" && f.format != "json" && f.format != "csv" {
		fmt.Fprintf(stderr, "gantry usage: --format: want table, json or csv, got %q\n", f.format)
		return f, false
	}
	v := url.Values{}
	for k, s := range map[string]string{"consumer": consumer, "from": from, "to": to, "group_by": groupBy} {
		if s != "" {
			v.Set(k, s)
		}
	}
	q, err := metering.ParseQuery(v, now)
	if err != nil {
		var pe *metering.ParamError
		if errors.As(err, &pe) {
			fmt.Fprintf(stderr, "gantry usage: %s: %s\n", flagOf[pe.Param], pe.Reason)
		} else {
			fmt.Fprintf(stderr, "gantry usage: %v\n", err)
		}
		return f, false
	}
	f.query = q
	return f, true
}

func cmdUsage(args []string, stdout, stderr io.Writer) int {
	f, ok := parseUsageFlags(args, stdout, stderr, time.Now())
	switch {
	case f.help:
		return exitOK
	case !ok:
		return exitUsage
	}
	_, st, code := loadStore(f.config, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := metering.Report(ctx, st, f.query)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	switch f.format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(map[string]any{"rows": rows})
	case "csv":
		err = metering.WriteCSV(stdout, rows)
	default:
		err = metering.WriteTable(stdout, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	return exitOK
}

// invoiceFlags are the parsed flags of gantry invoice.
type invoiceFlags struct {
	help     bool // -h: the usage went to stdout
	config   string
	consumer string
	period   billing.Period
	format   string
}

func parseInvoiceFlags(args []string, stdout, stderr io.Writer, now time.Time) (invoiceFlags, bool) {
	fs := newFlagSet("gantry invoice", invoiceCmdUsage, stderr)
	var f invoiceFlags
	var period string
	fs.StringVar(&f.config, "config", "gantry.yaml", "configuration `file`, or a directory of them")
	fs.StringVar(&f.config, "c", "gantry.yaml", "configuration `file` or directory (shorthand)")
	fs.StringVar(&f.consumer, "consumer", "", "the consumer `id` (required)")
	fs.StringVar(&period, "period", "", "the month, `YYYY-MM` (default: this month, UTC)")
	fs.StringVar(&f.format, "format", "table", "output: table or json")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		f.help = code == exitOK
		return f, false
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "gantry invoice: unexpected argument %q\n%s", fs.Arg(0), invoiceCmdUsage)
		return f, false
	case f.consumer == "":
		fmt.Fprintf(stderr, "gantry invoice: --consumer is required\n%s", invoiceCmdUsage)
		return f, false
	case f.format != "table" && f.format != "json":
		fmt.Fprintf(stderr, "gantry invoice: --format: want table or json, got %q\n", f.format)
		return f, false
	}
	f.period = billing.MonthOf(now)
	if period != "" {
		p, err := billing.ParsePeriod(period)
		if err != nil {
			fmt.Fprintf(stderr, "gantry invoice: --period: %v\n", err)
			return f, false
		}
		f.period = p
	}
	return f, true
}

func cmdInvoice(args []string, stdout, stderr io.Writer) int {
	f, ok := parseInvoiceFlags(args, stdout, stderr, time.Now())
	switch {
	case f.help:
		return exitOK
	case !ok:
		return exitUsage
	}
	cfg, st, code := loadStore(f.config, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inv, err := billing.ForConsumer(ctx, fileConsumers{st, cfg}, cfg.Plans, f.consumer, f.period)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(stderr, "gantry: no consumer %q in storage or in %s\n", f.consumer, f.config)
		return exitConfig
	}
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return exitConfig
	}
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(inv)
		return exitOK
	}
	writeInvoice(stdout, inv)
	return exitOK
}

func writeInvoice(w io.Writer, inv billing.Invoice) {
	plan := inv.Plan
	if plan == "" {
		plan = "none"
	}
	fmt.Fprintf(w, "Invoice for %s, %s (plan %s)\n\n", inv.Consumer, inv.Period, plan)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tQUANTITY\tAMOUNT")
	for _, l := range inv.Lines {
		item, q := l.Item, ""
		if l.Quantity != nil {
			q = strconv.FormatInt(*l.Quantity, 10)
		}
		if l.Model != "" {
			// tokens gpt-4.1    1234567 in, 89012 out
			item += " " + l.Model
			if l.InputTokens != nil && l.OutputTokens != nil {
				q = strconv.FormatInt(*l.InputTokens, 10) + " in, " + strconv.FormatInt(*l.OutputTokens, 10) + " out"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", item, q, l.Amount)
	}
	fmt.Fprintf(tw, "total\t\t%s\n", strings.TrimSpace(inv.Total+" "+inv.Currency))
	tw.Flush()
	fmt.Fprintf(w, "\nrequests %d, billable %d, units %d", inv.Usage.Requests, inv.Usage.Billable, inv.Usage.Units)
	if u := inv.Usage; u.InputTokens != 0 || u.OutputTokens != 0 {
		fmt.Fprintf(w, ", input tokens %d, output tokens %d", u.InputTokens, u.OutputTokens)
	}
	fmt.Fprintln(w)
}

// fileConsumers finds a consumer in storage, or else in the config file:
// the file's consumers reach storage when a gateway starts with it, and an
// invoice should not depend on whether one has.
type fileConsumers struct {
	store.Store
	cfg *config.Config
}

func (f fileConsumers) GetConsumer(ctx context.Context, id string) (store.Consumer, error) {
	c, err := f.Store.GetConsumer(ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		return c, err
	}
	for _, fc := range f.cfg.Consumers {
		if fc != nil && fc.ID == id {
			return store.Consumer{ID: fc.ID, Plan: fc.Plan, Groups: fc.Groups, Source: store.SourceConfig}, nil
		}
	}
	return c, err
}

// loadStore loads the config file and opens the storage it names.
func loadStore(path string, stderr io.Writer) (*config.Config, store.Store, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: invalid configuration %s:\n%v\n", path, err)
		return nil, nil, exitConfig
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gantry: %v\n", err)
		return nil, nil, exitConfig
	}
	return cfg, st, exitOK
}
