package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
)

func qty(n int64) *int64 { return &n }

// The example config's plans.
var (
	pro     = &config.Pricing{Currency: "USD", MonthlyFee: "49.00", IncludedRequests: 1_000_000, Per1000Over: "0.50"}
	metered = &config.Pricing{Currency: "USD", Per1000Units: "0.02"}
	// The LLM plan.
	llmPro = &config.Pricing{Currency: "USD", MonthlyFee: "49.00", Per1MTokens: map[string]*config.TokenPrice{
		"gpt-4o-mini": {Input: "0.15", Output: "0.60"},
		"gpt-4.1":     {Input: "2.00", Output: "8.00"},
	}}
)

func TestCompute(t *testing.T) {
	tests := []struct {
		name      string
		pricing   *config.Pricing
		usage     Usage
		wantCur   string
		wantLines []Line
		wantTotal string
	}{
		{
			name:      "the contract's example: 2,500 over, billed as 3 thousands",
			pricing:   pro,
			usage:     Usage{Requests: 1_003_000, Billable: 1_002_500, Units: 1_002_500},
			wantCur:   "USD",
			wantLines: []Line{{Item: "monthly_fee", Amount: "49.00"}, {Item: "overage", Quantity: qty(2500), Amount: "1.50"}},
			wantTotal: "50.50",
		},
		{
			name:    "one line per priced model, exact to the cent",
			pricing: llmPro,
			usage: Usage{Models: []ModelTokens{
				// 1,234,567 × 2.00 / 1e6 + 89,012 × 8.00 / 1e6 = 2.469134 + 0.712096 = 3.18123.
				{Model: "gpt-4.1", InputTokens: 1_234_567, OutputTokens: 89_012},
				// 3,333 × 0.15 / 1e6 + 3,333 × 0.60 / 1e6 = 0.00249975: rounds to 0.00.
				{Model: "gpt-4o-mini", InputTokens: 3_333, OutputTokens: 3_333},
				{Model: "other", InputTokens: 10_000_000, OutputTokens: 10_000_000},
			}},
			wantCur: "USD",
			wantLines: []Line{
				{Item: "monthly_fee", Amount: "49.00"},
				{Item: "tokens", Model: "gpt-4.1", InputTokens: qty(1_234_567), OutputTokens: qty(89_012), Amount: "3.18"},
				{Item: "tokens", Model: "gpt-4o-mini", InputTokens: qty(3_333), OutputTokens: qty(3_333), Amount: "0.00"},
			},
			wantTotal: "52.18",
		},
		{
			name:    "half a cent rounds away from zero",
			pricing: llmPro,
			// 500 × 2.00 / 1e6 + 500 × 8.00 / 1e6 = 0.005 exactly.
			usage:   Usage{Models: []ModelTokens{{Model: "gpt-4.1", InputTokens: 500, OutputTokens: 500}}},
			wantCur: "USD",
			wantLines: []Line{
				{Item: "monthly_fee", Amount: "49.00"},
				{Item: "tokens", Model: "gpt-4.1", InputTokens: qty(500), OutputTokens: qty(500), Amount: "0.01"},
				{Item: "tokens", Model: "gpt-4o-mini", InputTokens: qty(0), OutputTokens: qty(0), Amount: "0.00"},
			},
			wantTotal: "49.01",
		},
		{
			name:      "within the included requests",
			pricing:   pro,
			usage:     Usage{Billable: 1_000_000},
			wantCur:   "USD",
			wantLines: []Line{{Item: "monthly_fee", Amount: "49.00"}, {Item: "overage", Quantity: qty(0), Amount: "0.00"}},
			wantTotal: "49.00",
		},
		{
			name:      "one request over is a whole thousand",
			pricing:   pro,
			usage:     Usage{Billable: 1_000_001},
			wantCur:   "USD",
			wantLines: []Line{{Item: "monthly_fee", Amount: "49.00"}, {Item: "overage", Quantity: qty(1), Amount: "0.50"}},
			wantTotal: "49.50",
		},
		{
			name:      "zero usage still pays the fee",
			pricing:   pro,
			wantCur:   "USD",
			wantLines: []Line{{Item: "monthly_fee", Amount: "49.00"}, {Item: "overage", Quantity: qty(0), Amount: "0.00"}},
			wantTotal: "49.00",
		},
		{
			name:      "units: 1,000 is one thousand",
			pricing:   metered,
			usage:     Usage{Billable: 3, Units: 1000},
			wantCur:   "USD",
			wantLines: []Line{{Item: "units", Quantity: qty(1000), Amount: "0.02"}},
			wantTotal: "0.02",
		},
		{
			name:      "units: 1,001 round up to two thousands",
			pricing:   metered,
			usage:     Usage{Units: 1001},
			wantCur:   "USD",
			wantLines: []Line{{Item: "units", Quantity: qty(1001), Amount: "0.04"}},
			wantTotal: "0.04",
		},
		{
			name:      "units: a large count stays exact (123,456,790 thousands)",
			pricing:   metered,
			usage:     Usage{Units: 123_456_789_012},
			wantCur:   "USD",
			wantLines: []Line{{Item: "units", Quantity: qty(123_456_789_012), Amount: "2469135.80"}},
			wantTotal: "2469135.80",
		},
		{
			name:      "zero units",
			pricing:   metered,
			wantCur:   "USD",
			wantLines: []Line{{Item: "units", Quantity: qty(0), Amount: "0.00"}},
			wantTotal: "0.00",
		},
		{
			name:      "sub-cent prices round each line half up",
			pricing:   &config.Pricing{Currency: "EUR", MonthlyFee: "0.005", Per1000Over: "0.333333", Per1000Units: "0.000125"},
			usage:     Usage{Billable: 3000, Units: 40_000},
			wantCur:   "EUR",
			wantLines: []Line{{Item: "monthly_fee", Amount: "0.01"}, {Item: "overage", Quantity: qty(3000), Amount: "1.00"}, {Item: "units", Quantity: qty(40_000), Amount: "0.01"}},
			wantTotal: "1.02",
		},
		{
			name:      "every item: fee, overage and units",
			pricing:   &config.Pricing{Currency: "USD", MonthlyFee: "10", IncludedRequests: 500, Per1000Over: "1.25", Per1000Units: "0.1"},
			usage:     Usage{Billable: 2600, Units: 9999},
			wantCur:   "USD",
			wantLines: []Line{{Item: "monthly_fee", Amount: "10.00"}, {Item: "overage", Quantity: qty(2100), Amount: "3.75"}, {Item: "units", Quantity: qty(9999), Amount: "1.00"}},
			wantTotal: "14.75",
		},
		{
			name:      "no pricing",
			wantLines: []Line{},
			wantTotal: "0.00",
		},
		{
			name:      "pricing with a currency only",
			pricing:   &config.Pricing{Currency: "GBP"},
			usage:     Usage{Billable: 5},
			wantCur:   "GBP",
			wantLines: []Line{},
			wantTotal: "0.00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cur, lines, total, err := compute(tt.pricing, tt.usage)
			if err != nil {
				t.Fatalf("Compute(): %v", err)
			}
			if cur != tt.wantCur || total != tt.wantTotal {
				t.Errorf("Compute() = %s %s, want %s %s", cur, total, tt.wantCur, tt.wantTotal)
			}
			if diff := cmp.Diff(tt.wantLines, lines); diff != "" {
				t.Errorf("lines mismatch (-want +got):\n%s", diff)
			}
		})
	}

	if _, _, _, err := compute(&config.Pricing{MonthlyFee: "4x"}, Usage{}); err == nil {
		t.Error("Compute() with an invalid amount = nil error")
	}
}

// fakeSource serves consumers and usage totals from memory.
type fakeSource struct {
	consumers map[string]store.Consumer
	totals    []store.UsageTotal
	err       error
	queries   []store.UsageQuery
}

func (f *fakeSource) GetConsumer(_ context.Context, id string) (store.Consumer, error) {
	c, ok := f.consumers[id]
	if !ok {
		return c, fmt.Errorf("getting consumer %s: %w", id, store.ErrNotFound)
	}
	return c, nil
}

func (f *fakeSource) QueryUsage(_ context.Context, q store.UsageQuery) ([]store.UsageTotal, error) {
	f.queries = append(f.queries, q)
	return f.totals, f.err
}

func TestForConsumer(t *testing.T) {
	plans := map[string]*config.Plan{
		"pro":     {Pricing: pro},
		"metered": {Pricing: metered},
		"free":    {Quota: &config.Quota{Requests: 1000, Per: "month"}},
	}
	src := &fakeSource{
		consumers: map[string]store.Consumer{
			"acme":    {ID: "acme", Plan: "pro"},
			"globex":  {ID: "globex", Plan: "free"},
			"initech": {ID: "initech"},
			"hooli":   {ID: "hooli", Plan: "retired"},
		},
		totals: []store.UsageTotal{{Consumer: "acme", UsageCounts: store.UsageCounts{Requests: 1_003_000, Billable: 1_002_500, Units: 1_002_500}}},
	}
	nov, err := ParsePeriod("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ForConsumer(t.Context(), src, plans, "acme", nov)
	if err != nil {
		t.Fatalf("ForConsumer(acme): %v", err)
	}
	got, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"consumer":"acme","period":"2026-11","plan":"pro","currency":"USD","lines":[{"item":"monthly_fee","amount":"49.00"},{"item":"overage","quantity":2500,"amount":"1.50"}],"total":"50.50","usage":{"requests":1003000,"billable":1002500,"units":1002500}}`
	if string(got) != want {
		t.Errorf("invoice JSON =\n%s\nwant\n%s", got, want)
	}
	wantQ := store.UsageQuery{Consumer: "acme", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), GroupBy: store.GroupByModel}
	if diff := cmp.Diff([]store.UsageQuery{wantQ}, src.queries); diff != "" {
		t.Errorf("usage query mismatch (-want +got):\n%s", diff)
	}

	for _, id := range []string{"globex", "initech", "hooli"} {
		inv, err := ForConsumer(t.Context(), src, plans, id, nov)
		if err != nil {
			t.Fatalf("ForConsumer(%s): %v", id, err)
		}
		b, _ := json.Marshal(inv)
		if inv.Total != "0.00" || len(inv.Lines) != 0 || inv.Currency != "" {
			t.Errorf("invoice of %s (no pricing) = %s, want no lines, no currency and 0.00", id, b)
		}
	}
	if _, err := ForConsumer(t.Context(), src, plans, "umbrella", nov); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ForConsumer(unknown) = %v, want ErrNotFound", err)
	}
	src.err = errors.New("connection refused")
	if _, err := ForConsumer(t.Context(), src, plans, "acme", nov); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("ForConsumer() with storage down = %v, want the storage error", err)
	}
}

func TestParsePeriod(t *testing.T) {
	tests := []struct {
		in         string
		start, end string
		wantErr    bool
	}{
		{in: "2026-11", start: "2026-11-01", end: "2026-12-01"},
		{in: "2026-12", start: "2026-12-01", end: "2027-01-01"},
		{in: "2028-02", start: "2028-02-01", end: "2028-03-01"},
		{in: "2026-13", wantErr: true},
		{in: "2026-1", wantErr: true},
		{in: "2026-11-01", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePeriod(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParsePeriod(%q) = %v, want an error", tt.in, p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Start.Format(time.DateOnly) + " " + p.End.Format(time.DateOnly); got != tt.start+" "+tt.end {
				t.Errorf("ParsePeriod(%q) = %s, want %s %s", tt.in, got, tt.start, tt.end)
			}
			if p.String() != tt.in || p.Start.Location() != time.UTC {
				t.Errorf("ParsePeriod(%q).String() = %q in %v", tt.in, p.String(), p.Start.Location())
			}
		})
	}
	if got := MonthOf(time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))).String(); got != "2027-01" {
		t.Errorf("MonthOf(Dec 31 23:30 EST) = %s, want 2027-01 (UTC)", got)
	}
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"2026-11", "0000-01", "9999-12", "2026-00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeriod(s)
		if err != nil {
			return
		}
		if !p.Start.Before(p.End) || p.Start.Day() != 1 || p.End.Day() != 1 {
			t.Fatalf("ParsePeriod(%q) = %v", s, p)
		}
	})
}

func BenchmarkCompute(b *testing.B) {
	pr := &config.Pricing{Currency: "USD", MonthlyFee: "49.00", IncludedRequests: 1_000_000, Per1000Over: "0.50", Per1000Units: "0.02"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := compute(pr, Usage{Billable: 1_002_500, Units: 4_500_000}); err != nil {
			b.Fatal(err)
		}
	}
}
