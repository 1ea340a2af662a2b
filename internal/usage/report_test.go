package usage

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/store"
)

func TestParseQuery(t *testing.T) {
	now := time.Date(2026, 11, 17, 15, 4, 5, 0, time.UTC)
	day := func(s string) time.Time {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tests := []struct {
		name      string
		query     string
		want      store.UsageQuery
		wantParam string
	}{
		{
			name:  "the contract's example",
			query: "consumer=acme&from=2026-11-01&to=2026-12-01&group_by=day",
			want:  store.UsageQuery{Consumer: "acme", From: day("2026-11-01"), To: day("2026-12-01"), GroupBy: "day"},
		},
		{
			name:  "defaults: every consumer, the current UTC month, no grouping",
			query: "",
			want:  store.UsageQuery{From: day("2026-11-01"), To: day("2026-12-01")},
		},
		{
			name:  "only from runs to the end of the current month",
			query: "from=2026-09-15&group_by=route",
			want:  store.UsageQuery{From: day("2026-09-15"), To: day("2026-12-01"), GroupBy: "route"},
		},
		{
			name:  "only to starts at the beginning of its month",
			query: "to=2026-10-20&group_by=hour",
			want:  store.UsageQuery{From: day("2026-10-01"), To: day("2026-10-20"), GroupBy: "hour"},
		},
		{
			name:  "to at a month's start means the month before",
			query: "to=2026-10-01",
			want:  store.UsageQuery{From: day("2026-09-01"), To: day("2026-10-01")},
		},
		{
			name:  "RFC 3339 with an offset, read as UTC",
			query: "from=2026-11-03T01:30:00%2B01:00&to=2026-11-03T12:00:00Z",
			want:  store.UsageQuery{From: time.Date(2026, 11, 3, 0, 30, 0, 0, time.UTC), To: time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)},
		},
		{name: "unknown grouping", query: "group_by=week", wantParam: "group_by"},
		{name: "grouping in capitals", query: "group_by=DAY", wantParam: "group_by"},
		{name: "bad from", query: "from=yesterday", wantParam: "from"},
		{name: "impossible date", query: "from=2026-02-30", wantParam: "from"},
		{name: "bad to", query: "to=2026-13-01", wantParam: "to"},
		{name: "empty range", query: "from=2026-11-05&to=2026-11-05", wantParam: "to"},
		{name: "reversed range", query: "from=2026-11-05&to=2026-11-01", wantParam: "to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(v, now)
			if tt.wantParam != "" {
				var pe *ParamError
				if !errors.As(err, &pe) || pe.Param != tt.wantParam {
					t.Fatalf("ParseQuery(%q) error = %v, want a *ParamError for %s", tt.query, err, tt.wantParam)
				}
				if !strings.HasPrefix(err.Error(), tt.wantParam+": ") {
					t.Errorf("error %q does not start with the parameter's name", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.query, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseQuery(%q) mismatch (-want +got):\n%s", tt.query, diff)
			}
			if got.From.Location() != time.UTC || got.To.Location() != time.UTC {
				t.Errorf("ParseQuery(%q) = %v .. %v, want UTC", tt.query, got.From, got.To)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"consumer=acme&from=2026-11-01&to=2026-12-01&group_by=day", "from=2026-11-03T01:30:00%2B01:00", "to=0001-01-01", "group_by=hour&to=9999-12-31"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 17, 15, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, now)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseQuery(%q) error %v is not a *ParamError", raw, err)
			}
			return
		}
		if !q.From.Before(q.To) {
			t.Fatalf("ParseQuery(%q) = [%v, %v), an empty range", raw, q.From, q.To)
		}
	})
}

// fakeQuerier answers QueryUsage with fixed totals.
type fakeQuerier struct {
	totals []store.UsageTotal
	err    error
	got    store.UsageQuery
}

func (f *fakeQuerier) QueryUsage(_ context.Context, q store.UsageQuery) ([]store.UsageTotal, error) {
	f.got = q
	return f.totals, f.err
}

func TestReport(t *testing.T) {
	nov := store.UsageQuery{Consumer: "acme", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	counts := store.UsageCounts{Requests: 120, Admitted: 119, Billable: 118, Units: 118, Errors: 2, BytesOut: 53100,
		LatencyMicros: 120 * 4321, WSMessagesIn: 4, WSMessagesOut: 9, WSMillis: 61500}
	tests := []struct {
		name    string
		groupBy string
		q       func(q store.UsageQuery) store.UsageQuery
		total   store.UsageTotal
		want    Row
	}{
		{
			name:    "by day: the contract's row",
			groupBy: store.GroupByDay,
			total:   store.UsageTotal{Consumer: "acme", Period: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), UsageCounts: counts},
			want: Row{Consumer: "acme", Period: "2026-11-03", Requests: 120, Billable: 118, Units: 118, Errors: 2, BytesOut: 53100,
				Admitted: 119, WSMessagesIn: 4, WSMessagesOut: 9, WSSeconds: 61.5, AvgLatencyMS: 4.321},
		},
		{
			name:    "by hour",
			groupBy: store.GroupByHour,
			total:   store.UsageTotal{Consumer: "acme", Period: time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC), UsageCounts: store.UsageCounts{Requests: 3, LatencyMicros: 1000}},
			want:    Row{Consumer: "acme", Period: "2026-11-03T14:00:00Z", Requests: 3, AvgLatencyMS: 0.333},
		},
		{
			name:    "by route: the period is the range",
			groupBy: store.GroupByRoute,
			total:   store.UsageTotal{Consumer: "acme", Route: "orders", UsageCounts: store.UsageCounts{Requests: 1}},
			want:    Row{Consumer: "acme", Period: "2026-11-01/2026-12-01", Route: "orders", Requests: 1},
		},
		{
			name: "ungrouped, a range with times",
			q: func(q store.UsageQuery) store.UsageQuery {
				q.From = q.From.Add(90 * time.Minute)
				return q
			},
			total: store.UsageTotal{Consumer: "acme"},
			want:  Row{Consumer: "acme", Period: "2026-11-01T01:30:00Z/2026-12-01T00:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := nov
			q.GroupBy = tt.groupBy
			if tt.q != nil {
				q = tt.q(q)
			}
			src := &fakeQuerier{totals: []store.UsageTotal{tt.total}}
			rows, err := Report(t.Context(), src, q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(q, src.got); diff != "" {
				t.Errorf("query mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Row{tt.want}, rows); diff != "" {
				t.Errorf("Report() mismatch (-want +got):\n%s", diff)
			}
		})
	}

	rows, err := Report(t.Context(), &fakeQuerier{totals: []store.UsageTotal{}}, nov)
	if err != nil || rows == nil || len(rows) != 0 {
		t.Errorf("Report() of nothing = %#v, %v, want an empty list", rows, err)
	}
	if _, err := Report(t.Context(), &fakeQuerier{err: errDown}, nov); !errors.Is(err, errDown) {
		t.Errorf("Report() = %v, want the storage error", err)
	}
}

func TestWriteCSV(t *testing.T) {
	rows := []Row{
		{Consumer: "acme", Period: "2026-11-03", Requests: 120, Billable: 118, Units: 118, Errors: 2, BytesOut: 53100, Admitted: 119, WSSeconds: 61.5, AvgLatencyMS: 4.321},
		{Consumer: "", Period: "2026-11-03", Route: "public", Requests: 7, Billable: 7, Units: 7},
		{Consumer: `odd,"name"`, Period: "2026-11-04"},
		{Consumer: "acme", Period: "2026-11-01/2026-12-01", Model: "gpt-4.1", Requests: 3, Billable: 3, Units: 3, Admitted: 3, InputTokens: 1200, OutputTokens: 345},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := `consumer,period,route,requests,billable,units,errors,bytes_in,bytes_out,admitted,ws_messages_in,ws_messages_out,ws_seconds,avg_latency_ms,model,input_tokens,output_tokens
acme,2026-11-03,,120,118,118,2,0,53100,119,0,0,61.5,4.321,,0,0
,2026-11-03,public,7,7,7,0,0,0,0,0,0,0,0,,0,0
"odd,""name""",2026-11-04,,0,0,0,0,0,0,0,0,0,0,0,,0,0
acme,2026-11-01/2026-12-01,,3,3,3,0,0,0,3,0,0,0,0,gpt-4.1,1200,345
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteCSV() mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []Row{
		{Consumer: "acme", Period: "2026-11-03", Requests: 120, Billable: 118, Units: 118, Errors: 2, BytesOut: 53100},
		{Period: "2026-11-03", Route: "public", Requests: 7},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `CONSUMER     PERIOD      ROUTE   REQUESTS  BILLABLE  UNITS  ERRORS  BYTES IN  BYTES OUT
acme         2026-11-03          120       118       118    2       0         53100
(anonymous)  2026-11-03  public  7         0         0      0       0         0
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteTable() mismatch (-want +got):\n%s", diff)
	}
}
