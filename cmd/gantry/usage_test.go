package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/billing"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
)

var cliNow = time.Date(2026, 11, 17, 15, 4, 5, 0, time.UTC)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseUsageFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    usageFlags
		wantErr string
	}{
		{
			name: "defaults",
			want: usageFlags{config: "gantry.yaml", format: "table", query: store.UsageQuery{From: day("2026-11-01"), To: day("2026-12-01")}},
		},
		{
			name: "everything",
			args: []string{"-c", "prod.yaml", "--consumer", "acme", "--from", "2026-10-01", "--to", "2026-10-15T12:00:00Z", "--group-by", "hour", "--format", "csv"},
			want: usageFlags{config: "prod.yaml", format: "csv", query: store.UsageQuery{Consumer: "acme", From: day("2026-10-01"),
				To: time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC), GroupBy: "hour"}},
		},
		{
			name: "long config flag, one dash",
			args: []string{"-config=gw.yaml", "-group-by=route", "-format=json"},
			want: usageFlags{config: "gw.yaml", format: "json", query: store.UsageQuery{From: day("2026-11-01"), To: day("2026-12-01"), GroupBy: "route"}},
		},
		{name: "bad grouping", args: []string{"--group-by", "week"}, wantErr: "--group-by: want day, hour, route or model"},
		{name: "bad from", args: []string{"--from", "last monday"}, wantErr: "--from: want YYYY-MM-DD"},
		{name: "reversed range", args: []string{"--from", "2026-11-05", "--to", "2026-11-01"}, wantErr: "--to: must be after from"},
		{name: "bad format", args: []string{"--format", "xml"}, wantErr: "--format: want table, json or csv"},
		{name: "unknown flag", args: []string{"--since", "2026-11-01"}, wantErr: "flag provided but not defined: -since"},
		{name: "stray argument", args: []string{"acme"}, wantErr: `unexpected argument "acme"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, ok := parseUsageFlags(tt.args, io.Discard, &stderr, cliNow)
			if tt.wantErr != "" {
				if ok || !strings.Contains(stderr.String(), tt.wantErr) {
					t.Fatalf("parseUsageFlags(%q) = %v, stderr %q, want %q", tt.args, ok, stderr.String(), tt.wantErr)
				}
				return
			}
			if !ok {
				t.Fatalf("parseUsageFlags(%q) failed: %s", tt.args, stderr.String())
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(usageFlags{})); diff != "" {
				t.Errorf("parseUsageFlags(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestParseInvoiceFlags(t *testing.T) {
	nov := billing.MonthOf(day("2026-11-01"))
	tests := []struct {
		name    string
		args    []string
		want    invoiceFlags
		wantErr string
	}{
		{
			name: "current month by default",
			args: []string{"--consumer", "acme"},
			want: invoiceFlags{config: "gantry.yaml", consumer: "acme", period: nov, format: "table"},
		},
		{
			name: "a given month as JSON",
			args: []string{"-c", "prod.yaml", "--consumer", "acme", "--period", "2026-02", "--format", "json"},
			want: invoiceFlags{config: "prod.yaml", consumer: "acme", period: billing.MonthOf(day("2026-02-01")), format: "json"},
		},
		{name: "no consumer", args: []string{"--period", "2026-11"}, wantErr: "--consumer is required"},
		{name: "bad period", args: []string{"--consumer", "acme", "--period", "2026-11-01"}, wantErr: "--period: want a month like 2026-11"},
		{name: "csv is not offered", args: []string{"--consumer", "acme", "--format", "csv"}, wantErr: "--format: want table or json"},
		{name: "stray argument", args: []string{"--consumer", "acme", "extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, ok := parseInvoiceFlags(tt.args, io.Discard, &stderr, cliNow)
			if tt.wantErr != "" {
				if ok || !strings.Contains(stderr.String(), tt.wantErr) {
					t.Fatalf("parseInvoiceFlags(%q) = %v, stderr %q, want %q", tt.args, ok, stderr.String(), tt.wantErr)
				}
				return
			}
			if !ok {
				t.Fatalf("parseInvoiceFlags(%q) failed: %s", tt.args, stderr.String())
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(invoiceFlags{})); diff != "" {
				t.Errorf("parseInvoiceFlags(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

// usageConfig writes a config file whose SQLite storage holds a month of
// usage for acme, a consumer known only from the file.
func usageConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gantry.yaml")
	cfg := `version: 1
storage: {driver: sqlite, dsn: ./data/gantry.db}
plans:
  pro:
    pricing: {currency: USD, monthly_fee: 49.00, included_requests: 1000000, per_1000_over: 0.50}
consumers:
  - id: acme
    plan: pro
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "data", "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows := []store.UsageRow{
		{Bucket: time.Date(2026, 11, 3, 9, 15, 0, 0, time.UTC), Consumer: "acme", Route: "orders", UsageCounts: store.UsageCounts{Requests: 120, Admitted: 119, Billable: 118, Units: 118, Errors: 2, BytesOut: 53100}},
		{Bucket: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC), Consumer: "acme", Route: "orders", UsageCounts: store.UsageCounts{Requests: 1_002_382, Admitted: 1_002_382, Billable: 1_002_382, Units: 1_002_382}},
	}
	if err := st.UpsertUsage(context.Background(), "gw-a", rows); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsageAndInvoiceCommands(t *testing.T) {
	cfg := usageConfig(t)
	tests := []struct {
		name string
		args []string
		code int
		want string // stdout, or a part of stderr when code != 0
	}{
		{
			name: "usage by day as CSV",
			args: []string{"usage", "-c", cfg, "--consumer", "acme", "--from", "2026-11-01", "--to", "2026-12-01", "--group-by", "day", "--format", "csv"},
			want: "consumer,period,route,requests,billable,units,errors,bytes_in,bytes_out,admitted,ws_messages_in,ws_messages_out,ws_seconds,avg_latency_ms,model,input_tokens,output_tokens\n" +
				"acme,2026-11-03,,120,118,118,2,0,53100,119,0,0,0,0,,0,0\n" +
				"acme,2026-11-20,,1002382,1002382,1002382,0,0,0,1002382,0,0,0,0,,0,0\n",
		},
		{
			name: "usage by route as a table",
			args: []string{"usage", "-c", cfg, "--from", "2026-11-01", "--to", "2026-12-01", "--group-by", "route"},
			want: "CONSUMER  PERIOD                 ROUTE   REQUESTS  BILLABLE  UNITS    ERRORS  BYTES IN  BYTES OUT\n" +
				"acme      2026-11-01/2026-12-01  orders  1002502   1002500   1002500  2       0         53100\n",
		},
		{
			name: "usage as JSON",
			args: []string{"usage", "-c", cfg, "--from", "2026-11-03", "--to", "2026-11-04", "--format", "json"},
			want: `{
  "rows": [
    {
      "consumer": "acme",
      "period": "2026-11-03/2026-11-04",
      "route": "",
      "requests": 120,
      "billable": 118,
      "units": 118,
      "errors": 2,
      "bytes_in": 0,
      "bytes_out": 53100,
      "admitted": 119,
      "ws_messages_in": 0,
      "ws_messages_out": 0,
      "ws_seconds": 0,
      "avg_latency_ms": 0,
      "model": "",
      "input_tokens": 0,
      "output_tokens": 0
    }
  ]
}
`,
		},
		{
			name: "the contract's invoice",
			args: []string{"invoice", "-c", cfg, "--consumer", "acme", "--period", "2026-11"},
			want: `Invoice for acme, 2026-11 (plan pro)

ITEM         QUANTITY  AMOUNT
monthly_fee            49.00
overage      2500      1.50
total                  50.50 USD

requests 1002502, billable 1002500, units 1002500
`,
		},
		{
			name: "invoice as JSON",
			args: []string{"invoice", "-c", cfg, "--consumer", "acme", "--period", "2026-11", "--format", "json"},
			want: `{
  "consumer": "acme",
  "period": "2026-11",
  "plan": "pro",
  "currency": "USD",
  "lines": [
    {
      "item": "monthly_fee",
      "amount": "49.00"
    },
    {
      "item": "overage",
      "quantity": 2500,
      "amount": "1.50"
    }
  ],
  "total": "50.50",
  "usage": {
    "requests": 1002502,
    "billable": 1002500,
    "units": 1002500
  }
}
`,
		},
		{name: "unknown consumer", args: []string{"invoice", "-c", cfg, "--consumer", "umbrella"}, code: exitConfig, want: `no consumer "umbrella"`},
		{name: "missing config", args: []string{"usage", "-c", filepath.Join(t.TempDir(), "none.yaml")}, code: exitConfig, want: "invalid configuration"},
		{name: "bad flag before any storage", args: []string{"usage", "-c", filepath.Join(t.TempDir(), "none.yaml"), "--group-by", "week"}, code: exitUsage, want: "--group-by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("gantry %q exited %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr.String())
			}
			if tt.code != exitOK {
				if !strings.Contains(stderr.String(), tt.want) {
					t.Errorf("stderr = %q, want it to mention %q", stderr.String(), tt.want)
				}
				return
			}
			if diff := cmp.Diff(tt.want, stdout.String()); diff != "" {
				t.Errorf("gantry %q output mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}
