package usage

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// ParamError is a bad report or invoice parameter; Param names it as the
// admin API spells it ("group_by").
type ParamError struct {
	Param  string
	Reason string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Reason }

// ParseQuery reads the report parameters consumer, from, to and group_by.
// from and to are YYYY-MM-DD (midnight UTC) or RFC 3339 times; to is
// exclusive. Without either, the range is the current UTC month; with only
// from, it runs to the end of the current month; with only to, it starts
// at the beginning of to's month. Errors are *ParamError.
func ParseQuery(v url.Values, now time.Time) (store.UsageQuery, error) {
	q := store.UsageQuery{Consumer: v.Get("consumer")}
	switch g := v.Get("group_by"); g {
	case store.GroupByNone, store.GroupByDay, store.GroupByHour, store.GroupByRoute, store.GroupByModel:
		q.GroupBy = g
	default:
		return q, &ParamError{"group_by", fmt.Sprintf("want day, hour, route or model, got %q", g)}
	}
	var err error
	fromSet, toSet := v.Get("from") != "", v.Get("to") != ""
	if fromSet {
		if q.From, err = parseTime(v.Get("from")); err != nil {
			return q, &ParamError{"from", err.Error()}
		}
	}
	if toSet {
		if q.To, err = parseTime(v.Get("to")); err != nil {
			return q, &ParamError{"to", err.Error()}
		}
	}
	month := monthStart(now)
	switch {
	case !fromSet && !toSet:
		q.From, q.To = month, month.AddDate(0, 1, 0)
	case !toSet:
		q.To = month.AddDate(0, 1, 0)
	case !fromSet:
		q.From = monthStart(q.To.Add(-time.Nanosecond))
	}
	if !q.From.Before(q.To) {
		return q, &ParamError{"to", fmt.Sprintf("must be after from (%s)", q.From.Format(time.RFC3339))}
	}
	return q, nil
}

// parseTime reads a date (YYYY-MM-DD, taken as midnight UTC) or an RFC
// 3339 time, and returns it in UTC.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD or an RFC 3339 time like 2026-11-01T00:00:00Z, got %q", s)
	}
	return t.UTC(), nil
}

// monthStart returns midnight UTC of the first day of t's month (in UTC).
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Row is one line of a usage report. The first nine fields are the
// contract's; the rest add detail.
type Row struct {
	Consumer string `json:"consumer"`
	// Period is the UTC day (2026-11-03) or hour (2026-11-03T14:00:00Z)
	// when grouped by time, else the queried range as an ISO 8601
	// interval (2026-11-01/2026-12-01).
	Period   string `json:"period"`
	Route    string `json:"route"`
	Requests int64  `json:"requests"`
	Billable int64  `json:"billable"`
	Units    int64  `json:"units"`
	Errors   int64  `json:"errors"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
	Admitted int64  `json:"admitted"`
	// WSMessagesIn and WSMessagesOut are WebSocket data messages from and
	// to clients; WSSeconds is how long WebSocket connections were open.
	WSMessagesIn  int64   `json:"ws_messages_in"`
	WSMessagesOut int64   `json:"ws_messages_out"`
	WSSeconds     float64 `json:"ws_seconds"`
	// AvgLatencyMS is the mean request duration in milliseconds.
	AvgLatencyMS float64 `json:"avg_latency_ms"`
	// Model is the LLM model when grouped by model, else empty;
	// InputTokens and OutputTokens are the LLM tokens of admitted
	// requests.
	Model        string `json:"model"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// Querier reads the ledger: store.Store is one.
type Querier interface {
	QueryUsage(ctx context.Context, q store.UsageQuery) ([]store.UsageTotal, error)
}

// Report runs q and formats its totals as rows, never nil.
func Report(ctx context.Context, src Querier, q store.UsageQuery) ([]Row, error) {
	totals, err := src.QueryUsage(ctx, q)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(totals))
	for _, t := range totals {
		rows = append(rows, newRow(q, t))
	}
	return rows, nil
}

// newRow formats one total of q.
func newRow(q store.UsageQuery, t store.UsageTotal) Row {
	c := t.UsageCounts
	r := Row{
		Consumer: t.Consumer, Route: t.Route,
		Requests: c.Requests, Billable: c.Billable, Units: c.Units, Errors: c.Errors,
		BytesIn: c.BytesIn, BytesOut: c.BytesOut, Admitted: c.Admitted,
		WSMessagesIn: c.WSMessagesIn, WSMessagesOut: c.WSMessagesOut,
		WSSeconds: float64(c.WSMillis) / 1000,
		Model:     t.Model, InputTokens: c.InputTokens, OutputTokens: c.OutputTokens,
	}
	if c.Requests > 0 {
		r.AvgLatencyMS = math.Round(float64(c.LatencyMicros)/float64(c.Requests)) / 1000
	}
	switch q.GroupBy {
	case store.GroupByDay:
		r.Period = t.Period.UTC().Format(time.DateOnly)
	case store.GroupByHour:
		r.Period = t.Period.UTC().Format(time.RFC3339)
	default:
		r.Period = interval(q.From, q.To)
	}
	return r
}

// interval formats [from, to) as an ISO 8601 interval: dates when both are
// midnight UTC, RFC 3339 times otherwise.
func interval(from, to time.Time) string {
	from, to = from.UTC(), to.UTC()
	if from.Equal(from.Truncate(24*time.Hour)) && to.Equal(to.Truncate(24*time.Hour)) {
		return from.Format(time.DateOnly) + "/" + to.Format(time.DateOnly)
	}
	return from.Format(time.RFC3339Nano) + "/" + to.Format(time.RFC3339Nano)
}

// csvHeader names the columns WriteCSV writes, as the JSON fields.
var csvHeader = []string{"consumer", "period", "route", "requests", "billable", "units", "errors",
	"bytes_in", "bytes_out", "admitted", "ws_messages_in", "ws_messages_out", "ws_seconds", "avg_latency_ms",
	"model", "input_tokens", "output_tokens"}

// ServeCSV answers an HTTP request with rows as a CSV file (WriteCSV),
// not to be cached, under Content-Disposition disposition ("inline" or
// "attachment"). An error is the write's: the status is sent by then.
func ServeCSV(w http.ResponseWriter, disposition string, rows []Row) error {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", disposition+`; filename="usage.csv"`)
	w.WriteHeader(http.StatusOK)
	return WriteCSV(w, rows)
}

// WriteCSV writes rows as CSV (RFC 4180) under a header line.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for _, r := range rows {
		cw.Write(r.fields())
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes rows as aligned columns for a terminal: the
// contract's columns, and the model and token columns when any row has
// tokens or a model. The CSV and JSON forms have them all.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	tokens := slices.ContainsFunc(rows, func(r Row) bool { return r.Model != "" || r.InputTokens != 0 || r.OutputTokens != 0 })
	head := "CONSUMER\tPERIOD\tROUTE\tREQUESTS\tBILLABLE\tUNITS\tERRORS\tBYTES IN\tBYTES OUT"
	if tokens {
		head += "\tMODEL\tINPUT TOKENS\tOUTPUT TOKENS"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		f := r.fields()
		if f[0] == "" {
			f[0] = "(anonymous)"
		}
		cols := f[:9]
		if tokens {
			cols = append(cols, f[14:17]...)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	return tw.Flush()
}

func (r Row) fields() []string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	fl := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	return []string{r.Consumer, r.Period, r.Route, i(r.Requests), i(r.Billable), i(r.Units), i(r.Errors),
		i(r.BytesIn), i(r.BytesOut), i(r.Admitted), i(r.WSMessagesIn), i(r.WSMessagesOut), fl(r.WSSeconds), fl(r.AvgLatencyMS),
		r.Model, i(r.InputTokens), i(r.OutputTokens)}
}
