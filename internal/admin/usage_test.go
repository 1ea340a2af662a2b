package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
)

const testToken = "s3cret-admin-token"

// usageAPI serves the admin API over a SQLite store holding two consumers
// and a month of usage written by two nodes.
func usageAPI(t *testing.T) http.Handler {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, c := range []store.Consumer{{ID: "acme", Plan: "pro"}, {ID: "globex", Plan: "free"}} {
		if err := st.CreateConsumer(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// acme on 2026-11-03: 120 requests, 118 billable, 2 errors, as in the
	// contract, split over two nodes and two routes; the 1,002,500-request
	// month lands on 2026-11-20; December must not count.
	nodeA := []store.UsageRow{
		{Bucket: at("2026-11-03T09:15:00Z"), Consumer: "acme", Route: "orders", UsageCounts: store.UsageCounts{Requests: 70, Admitted: 70, Billable: 69, Units: 69, Errors: 1, BytesOut: 30000}},
		{Bucket: at("2026-11-20T12:00:00Z"), Consumer: "acme", Route: "orders", UsageCounts: store.UsageCounts{Requests: 1_002_382, Admitted: 1_002_382, Billable: 1_002_382, Units: 1_002_382}},
		{Bucket: at("2026-12-01T00:00:00Z"), Consumer: "acme", Route: "orders", UsageCounts: store.UsageCounts{Requests: 9, Admitted: 9, Billable: 9, Units: 9}},
		{Bucket: at("2026-11-03T09:15:00Z"), Consumer: "globex", Route: "users", UsageCounts: store.UsageCounts{Requests: 5, Admitted: 5, Billable: 5, Units: 5}},
	}
	nodeB := []store.UsageRow{
		{Bucket: at("2026-11-03T23:59:00Z"), Consumer: "acme", Route: "users", UsageCounts: store.UsageCounts{Requests: 50, Admitted: 49, Billable: 49, Units: 49, Errors: 1, BytesOut: 23100}},
	}
	if err := st.UpsertUsage(t.Context(), "gw-a", nodeA); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertUsage(t.Context(), "gw-b", nodeB); err != nil {
		t.Fatal(err)
	}
	plans := map[string]*config.Plan{
		"pro":  {Pricing: &config.Pricing{Currency: "USD", MonthlyFee: "49.00", IncludedRequests: 1_000_000, Per1000Over: "0.50"}},
		"free": {Quota: &config.Quota{Requests: 1000, Per: "month"}},
	}
	return Handler(Options{Store: st, Token: testToken, Plans: func() map[string]*config.Plan { return plans }})
}

func get(t *testing.T, h http.Handler, target string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://localhost:9080"+target, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestUsageJSON(t *testing.T) {
	h := usageAPI(t)
	tests := []struct {
		name   string
		target string
		want   string // the rows, compact JSON
	}{
		{
			name:   "the contract's example",
			target: "/admin/usage?consumer=acme&from=2026-11-01&to=2026-12-01&group_by=day",
			want: `[{"consumer":"acme","period":"2026-11-03","route":"","requests":120,"billable":118,"units":118,"errors":2,"bytes_in":0,"bytes_out":53100,"admitted":119,"ws_messages_in":0,"ws_messages_out":0,"ws_seconds":0,"avg_latency_ms":0,"model":"","input_tokens":0,"output_tokens":0},` +
				`{"consumer":"acme","period":"2026-11-20","route":"","requests":1002382,"billable":1002382,"units":1002382,"errors":0,"bytes_in":0,"bytes_out":0,"admitted":1002382,"ws_messages_in":0,"ws_messages_out":0,"ws_seconds":0,"avg_latency_ms":0,"model":"","input_tokens":0,"output_tokens":0}]`,
		},
		{
			name:   "by route, every consumer, one day",
			target: "/admin/usage?from=2026-11-03&to=2026-11-04&group_by=route",
			want: `[{"consumer":"acme","period":"2026-11-03/2026-11-04","route":"orders","requests":70,"billable":69,"units":69,"errors":1,"bytes_in":0,"bytes_out":30000,"admitted":70,"ws_messages_in":0,"ws_messages_out":0,"ws_seconds":0,"avg_latency_ms":0,"model":"","input_tokens":0,"output_tokens":0},` +
				`{"consumer":"acme","period":"2026-11-03/2026-11-04","route":"users","requests":50,"billable":49,"units":49,"errors":1,"bytes_in":0,"bytes_out":23100,"admitted":49,"ws_messages_in":0,"ws_messages_out":0,"ws_seconds":0,"avg_latency_ms":0,"model":"","input_tokens":0,"output_tokens":0},` +
				`{"consumer":"globex","period":"2026-11-03/2026-11-04","route":"users","requests":5,"billable":5,"units":5,"errors":0,"bytes_in":0,"bytes_out":0,"admitted":5,"ws_messages_in":0,"ws_messages_out":0,"ws_seconds":0,"avg_latency_ms":0,"model":"","input_tokens":0,"output_tokens":0}]`,
		},
		{
			name:   "by hour, RFC 3339 bounds",
			target: "/admin/usage?consumer=globex&from=2026-11-03T09:00:00Z&to=2026-11-03T10:00:00Z&group_by=hour",
			want:   `[{"consumer":"globex","period":"2026-11-03T09:00:00Z","route":"","requests":5,"billable":5,"units":5,"errors":0,"bytes_in":0,"bytes_out":0,"admitted":5,"ws_messages_in":0,"ws_messages_out":0,"ws_seconds":0,"avg_latency_ms":0,"model":"","input_tokens":0,"output_tokens":0}]`,
		},
		{
			name:   "nothing in range is an empty list",
			target: "/admin/usage?consumer=acme&from=2026-10-01&to=2026-11-01",
			want:   `[]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, h, tt.target)
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s = %d %s: %s", tt.target, res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			var got struct {
				Rows json.RawMessage `json:"rows"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, compactJSON(t, got.Rows)); diff != "" {
				t.Errorf("rows mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// compactJSON strips the indentation, keeping the order of keys as sent.
func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("invalid JSON %s: %v", raw, err)
	}
	return b.String()
}

func TestUsageCSV(t *testing.T) {
	h := usageAPI(t)
	res, body := get(t, h, "/admin/usage?consumer=acme&from=2026-11-01&to=2026-12-01&group_by=day&format=csv")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET usage CSV = %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/csv", ct)
	}
	want := "consumer,period,route,requests,billable,units,errors,bytes_in,bytes_out,admitted,ws_messages_in,ws_messages_out,ws_seconds,avg_latency_ms,model,input_tokens,output_tokens\n" +
		"acme,2026-11-03,,120,118,118,2,0,53100,119,0,0,0,0,,0,0\n" +
		"acme,2026-11-20,,1002382,1002382,1002382,0,0,0,1002382,0,0,0,0,,0,0\n"
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("CSV mismatch (-want +got):\n%s", diff)
	}
}

func TestUsageBadParams(t *testing.T) {
	h := usageAPI(t)
	tests := []struct {
		target string
		param  string
	}{
		{"/admin/usage?group_by=week", "group_by"},
		{"/admin/usage?from=yesterday", "from"},
		{"/admin/usage?to=2026-13-01", "to"},
		{"/admin/usage?from=2026-11-05&to=2026-11-01", "to"},
		{"/admin/usage?format=xml", "format"},
		{"/admin/invoices/acme?period=2026-11-01", "period"},
		{"/admin/invoices/acme?period=november", "period"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			res, body := get(t, h, tt.target)
			if res.StatusCode != http.StatusBadRequest || res.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s = %d %s, want 400 JSON", tt.target, res.StatusCode, body)
			}
			var e struct {
				Status  int    `json:"status"`
				Error   string `json:"error"`
				Message string `json:"message"`
				Param   string `json:"param"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatal(err)
			}
			if e.Status != 400 || e.Error != "bad_request" || e.Param != tt.param || !strings.HasPrefix(e.Message, tt.param+": ") {
				t.Errorf("GET %s = %s, want a bad_request naming %s", tt.target, body, tt.param)
			}
		})
	}
}

func TestInvoice(t *testing.T) {
	h := usageAPI(t)
	tests := []struct {
		name   string
		target string
		status int
		want   string
	}{
		{
			name:   "the contract's example",
			target: "/admin/invoices/acme?period=2026-11",
			status: http.StatusOK,
			want:   `{"consumer":"acme","period":"2026-11","plan":"pro","currency":"USD","lines":[{"item":"monthly_fee","amount":"49.00"},{"item":"overage","quantity":2500,"amount":"1.50"}],"total":"50.50","usage":{"requests":1002502,"billable":1002500,"units":1002500}}`,
		},
		{
			name:   "a month without usage",
			target: "/admin/invoices/acme?period=2026-10",
			status: http.StatusOK,
			want:   `{"consumer":"acme","period":"2026-10","plan":"pro","currency":"USD","lines":[{"item":"monthly_fee","amount":"49.00"},{"item":"overage","quantity":0,"amount":"0.00"}],"total":"49.00","usage":{"requests":0,"billable":0,"units":0}}`,
		},
		{
			name:   "a plan without pricing",
			target: "/admin/invoices/globex?period=2026-11",
			status: http.StatusOK,
			want:   `{"consumer":"globex","period":"2026-11","plan":"free","lines":[],"total":"0.00","usage":{"requests":5,"billable":5,"units":5}}`,
		},
		{
			name:   "unknown consumer",
			target: "/admin/invoices/umbrella?period=2026-11",
			status: http.StatusNotFound,
			want:   `{"error":"not_found","message":"no such consumer","status":404}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, h, tt.target)
			if res.StatusCode != tt.status {
				t.Fatalf("GET %s = %d %s, want %d", tt.target, res.StatusCode, body, tt.status)
			}
			if diff := cmp.Diff(tt.want, compactJSON(t, json.RawMessage(body))); diff != "" {
				t.Errorf("GET %s mismatch (-want +got):\n%s", tt.target, diff)
			}
		})
	}

	// Without a period: the current month, which has no usage here.
	res, body := get(t, h, "/admin/invoices/acme")
	var inv struct{ Period, Total string }
	if err := json.Unmarshal([]byte(body), &inv); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET invoice without period = %d %s", res.StatusCode, body)
	}
	if want := time.Now().UTC().Format("2006-01"); inv.Period != want {
		t.Errorf("default period = %s, want %s", inv.Period, want)
	}
}

func TestUsageNeedsToken(t *testing.T) {
	h := usageAPI(t)
	for _, target := range []string{"/admin/usage", "/admin/invoices/acme"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost:9080"+target, nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token = %d, want 401", target, rec.Code)
		}
	}
}
