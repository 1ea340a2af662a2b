package billing

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
)

// Invoice items.
const (
	itemMonthlyFee = "monthly_fee"
	itemOverage    = "overage"
	itemUnits      = "units"
	itemTokens     = "tokens"
)

// Invoice is what a consumer owes for one month.
type Invoice struct {
	Consumer string `json:"consumer"`
	// Period is the month, YYYY-MM (UTC).
	Period string `json:"period"`
	// Plan is the consumer's plan, "" for none.
	Plan string `json:"plan,omitempty"`
	// Currency is the plan's, omitted when the plan has no pricing.
	Currency string `json:"currency,omitempty"`
	// Lines has one entry per item the plan prices; empty, never null,
	// without pricing.
	Lines []Line `json:"lines"`
	// Total is the sum of the lines' amounts, to the cent ("50.50").
	Total string `json:"total"`
	// Usage is what the amounts were computed from.
	Usage Usage `json:"usage"`
}

// Line is one item of an invoice.
type Line struct {
	// Item is monthly_fee, overage, units or tokens.
	Item string `json:"item"`
	// Quantity is the requests over the included ones (overage) or the
	// units (units); absent for the monthly fee and tokens.
	Quantity *int64 `json:"quantity,omitempty"`
	// Model is the LLM model of a tokens line; InputTokens and
	// OutputTokens are its tokens in the month.
	Model        string `json:"model,omitempty"`
	InputTokens  *int64 `json:"input_tokens,omitempty"`
	OutputTokens *int64 `json:"output_tokens,omitempty"`
	// Amount is a decimal string to the cent ("1.50").
	Amount string `json:"amount"`
}

// Usage are the month's totals an invoice is computed from.
type Usage struct {
	Requests int64 `json:"requests"`
	Billable int64 `json:"billable"`
	Units    int64 `json:"units"`
	// InputTokens and OutputTokens are the month's LLM tokens, every
	// model's; Models has them by model (only models with tokens).
	InputTokens  int64         `json:"input_tokens,omitempty"`
	OutputTokens int64         `json:"output_tokens,omitempty"`
	Models       []ModelTokens `json:"models,omitempty"`
}

// ModelTokens are one model's tokens in a month.
type ModelTokens struct {
	Model        string `json:"model"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// million is the token count per_1m_tokens prices.
var million = decimal.NewFromInt(1_000_000)

// compute prices one month of usage with pr (nil: no pricing, an invoice
// without lines and a total of "0.00"):
//
//	monthly_fee                                   when the plan has one
//	ceil(max(0, billable - included_requests) / 1000) * per_1000_over
//	ceil(units / 1000) * per_1000_units           when the plan has it
//	per model of per_1m_tokens, by model name:
//	(input × input price + output × output price) / 1,000,000
//
// Each line is rounded to the cent, half away from zero, and the total is
// the sum of the rounded lines, so the lines always add up to it. Amounts
// keep two decimals whatever the currency.
func compute(pr *config.Pricing, u Usage) (currency string, lines []Line, total string, err error) {
	lines = []Line{}
	sum := decimal.Zero
	if pr == nil {
		return "", lines, sum.StringFixed(2), nil
	}
	add := func(item string, qty *int64, amount decimal.Decimal) {
		amount = amount.Round(2)
		sum = sum.Add(amount)
		lines = append(lines, Line{Item: item, Quantity: qty, Amount: amount.StringFixed(2)})
	}
	if pr.MonthlyFee != "" {
		fee, err := amount("monthly_fee", pr.MonthlyFee)
		if err != nil {
			return "", nil, "", err
		}
		add(itemMonthlyFee, nil, fee)
	}
	if pr.Per1000Over != "" {
		price, err := amount("per_1000_over", pr.Per1000Over)
		if err != nil {
			return "", nil, "", err
		}
		over := max(0, u.Billable-max(0, pr.IncludedRequests))
		add(itemOverage, &over, decimal.NewFromInt(thousands(over)).Mul(price))
	}
	if pr.Per1000Units != "" {
		price, err := amount("per_1000_units", pr.Per1000Units)
		if err != nil {
			return "", nil, "", err
		}
		units := max(0, u.Units)
		add(itemUnits, &units, decimal.NewFromInt(thousands(units)).Mul(price))
	}
	for _, model := range slices.Sorted(maps.Keys(pr.Per1MTokens)) {
		tp := pr.Per1MTokens[model]
		if tp == nil {
			continue
		}
		pin, err := optionalAmount("per_1m_tokens."+model+".input", tp.Input)
		if err != nil {
			return "", nil, "", err
		}
		pout, err := optionalAmount("per_1m_tokens."+model+".output", tp.Output)
		if err != nil {
			return "", nil, "", err
		}
		var in, out int64
		for _, m := range u.Models {
			if m.Model == model {
				in, out = max(0, m.InputTokens), max(0, m.OutputTokens)
			}
		}
		cost := decimal.NewFromInt(in).Mul(pin).Add(decimal.NewFromInt(out).Mul(pout)).Div(million)
		cost = cost.Round(2)
		sum = sum.Add(cost)
		lines = append(lines, Line{Item: itemTokens, Model: model, InputTokens: &in, OutputTokens: &out, Amount: cost.StringFixed(2)})
	}
	return pr.Currency, lines, sum.StringFixed(2), nil
}

// optionalAmount is amount, with "" read as 0.
func optionalAmount(name string, d config.Decimal) (decimal.Decimal, error) {
	if d == "" {
		return decimal.Zero, nil
	}
	return amount(name, d)
}

// thousands is ceil(n / 1000) for n >= 0.
func thousands(n int64) int64 {
	return n/1000 + min(1, n%1000)
}

func amount(name string, d config.Decimal) (decimal.Decimal, error) {
	v, err := decimal.NewFromString(string(d))
	if err != nil || v.IsNegative() {
		return decimal.Zero, fmt.Errorf("pricing %s: invalid amount %q", name, string(d))
	}
	return v, nil
}

// Source is what ForConsumer reads: store.Store is one.
type Source interface {
	GetConsumer(ctx context.Context, id string) (store.Consumer, error)
	QueryUsage(ctx context.Context, q store.UsageQuery) ([]store.UsageTotal, error)
}

// ForConsumer computes the invoice of consumer for period p, with the
// pricing of the consumer's plan in plans. It returns an error wrapping
// store.ErrNotFound when the consumer does not exist. A consumer without a
// plan, or whose plan is not in plans or has no pricing, gets an invoice
// with no lines and a total of "0.00".
func ForConsumer(ctx context.Context, src Source, plans map[string]*config.Plan, consumer string, p Period) (Invoice, error) {
	c, err := src.GetConsumer(ctx, consumer)
	if err != nil {
		return Invoice{}, fmt.Errorf("invoicing %s: %w", consumer, err)
	}
	totals, err := src.QueryUsage(ctx, store.UsageQuery{Consumer: c.ID, From: p.Start, To: p.End, GroupBy: store.GroupByModel})
	if err != nil {
		return Invoice{}, fmt.Errorf("invoicing %s for %s: %w", consumer, p, err)
	}
	var u Usage
	for _, t := range totals {
		u.Requests += t.Requests
		u.Billable += t.Billable
		u.Units += t.Units
		u.InputTokens += t.InputTokens
		u.OutputTokens += t.OutputTokens
		if t.Model != "" && (t.InputTokens != 0 || t.OutputTokens != 0) {
			u.Models = append(u.Models, ModelTokens{Model: t.Model, InputTokens: t.InputTokens, OutputTokens: t.OutputTokens})
		}
	}
	var pr *config.Pricing
	if pl := plans[c.Plan]; c.Plan != "" && pl != nil {
		pr = pl.Pricing
	}
	inv := Invoice{Consumer: c.ID, Period: p.String(), Plan: c.Plan, Usage: u}
	if inv.Currency, inv.Lines, inv.Total, err = compute(pr, u); err != nil {
		return Invoice{}, fmt.Errorf("invoicing %s: plan %s: %w", consumer, c.Plan, err)
	}
	return inv, nil
}

// Period is a calendar month in UTC: [Start, End).
type Period struct {
	Start, End time.Time
}

// MonthOf returns the month t falls in, in UTC.
func MonthOf(t time.Time) Period {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return Period{Start: start, End: start.AddDate(0, 1, 0)}
}

// ParsePeriod reads a month written YYYY-MM.
func ParsePeriod(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Period{}, fmt.Errorf("want a month like 2026-11, got %q", s)
	}
	return MonthOf(t), nil
}

// String returns the month as YYYY-MM.
func (p Period) String() string { return p.Start.Format("2006-01") }
