package grafana

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gantry-dev/gantry/internal/telemetry"
)

// pendingMetrics are metrics the dashboard uses before the registry
// exports them, trusted as listed until then. Empty: every metric it uses
// is exported. The test fails while a listed metric is already exported,
// so the list only shrinks.
var pendingMetrics = map[string]metricInfo{}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

type metricInfo struct {
	labels    []string
	histogram bool
}

func (mi metricInfo) has(label string) bool {
	return slices.Contains(mi.labels, label) || slices.Contains(targetLabels, label)
}

var (
	descName   = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)
	descLabels = regexp.MustCompile(`constLabels: \{(.*)\}, variableLabels: \{([^}]*)\}\}$`)
	constLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// exportedMetrics describes every metric the gateway's registry holds:
// names and labels from the collectors' descriptions, histograms from what
// the registry gathers and from package telemetry's source (a histogram
// without series yet gathers nothing).
func exportedMetrics(t *testing.T) map[string]metricInfo {
	t.Helper()
	m := telemetry.NewMetrics()
	m.Backends().UsagePending(func() float64 { return 0 })
	m.Backends().UsageFlushLag(func() float64 { return 0 })
	// Registered when a cached route first serves, and with a memory store.
	m.CacheCounter("r", "hit")
	m.CacheStore(func() float64 { return 0 }, func() float64 { return 0 })
	ch := make(chan *prometheus.Desc)
	go func() {
		m.Registry().Describe(ch)
		close(ch)
	}()
	out := map[string]metricInfo{}
	for d := range ch {
		s := d.String()
		nm, lm := descName.FindStringSubmatch(s), descLabels.FindStringSubmatch(s)
		if nm == nil || lm == nil {
			t.Fatalf("cannot read the metric description %s", s)
		}
		name, err := strconv.Unquote(nm[1])
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, c := range constLabel.FindAllStringSubmatch(lm[1], -1) {
			labels = append(labels, c[1])
		}
		for l := range strings.SplitSeq(lm[2], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				labels = append(labels, l)
			}
		}
		out[name] = metricInfo{labels: labels}
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if mi, ok := out[f.GetName()]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
			mi.histogram = true
			out[f.GetName()] = mi
		}
	}
	for _, name := range histogramsInSource(t) {
		if mi, ok := out[name]; ok {
			mi.histogram = true
			out[name] = mi
		}
	}
	// The reader must see what it is meant to check.
	if mi := out["gantry_requests_total"]; !mi.has("route") || !mi.has("status") || !out["gantry_request_duration_seconds"].histogram {
		t.Fatalf("registry read as %v: want gantry_requests_total{route,method,status} and the request duration histogram", out)
	}
	return out
}

// histogramsInSource returns the names of the histograms and summaries
// package telemetry declares (prometheus.NewHistogram{,Vec} and
// NewSummary{,Vec} with a literal Name).
func histogramsInSource(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "internal", "telemetry", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("telemetry sources: %v, %v", files, err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !slices.Contains([]string{"NewHistogram", "NewHistogramVec", "NewSummary", "NewSummaryVec"}, sel.Sel.Name) || len(call.Args) == 0 {
				return true
			}
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			for _, e := range opts.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if k, _ := kv.Key.(*ast.Ident); !ok || k == nil || k.Name != "Name" {
					continue
				}
				if lit, ok := kv.Value.(*ast.BasicLit); ok {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						names = append(names, s)
					}
				}
			}
			return true
		})
	}
	return names
}

// known merges the exported metrics with the pending ones.
func known(t *testing.T) map[string]metricInfo {
	t.Helper()
	exp := exportedMetrics(t)
	out := make(map[string]metricInfo, len(exp)+len(pendingMetrics))
	for name, mi := range exp {
		out[name] = mi
	}
	for name, p := range pendingMetrics {
		e, ok := exp[name]
		if ok && !slices.ContainsFunc(p.labels, func(l string) bool { return !e.has(l) }) && (e.histogram || !p.histogram) {
			t.Errorf("pending metric %s is exported now: remove it from pendingMetrics", name)
		}
		mi := out[name]
		mi.labels = append(slices.Clone(mi.labels), p.labels...)
		mi.histogram = mi.histogram || p.histogram
		out[name] = mi
	}
	return out
}

// query is one PromQL expression of the dashboard and where it is.
type query struct {
	where, expr, legend string
}

// sqlQuery is one SQL query of the dashboard.
type sqlQuery struct {
	where, sql string
}

func loadDashboard(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("gantry.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("gantry.json: %v", err)
	}
	return d
}

// queries walks the dashboard and returns its PromQL and SQL: targets'
// expr (and legendFormat) and rawSql, annotations' expr, and the
// label_values() of query variables.
func queries(t *testing.T, d map[string]any) ([]query, []sqlQuery) {
	t.Helper()
	var prom []query
	var sql []sqlQuery
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				where += "/" + title
			} else if name, ok := v["name"].(string); ok {
				where += "/" + name
			}
			if e, ok := v["expr"].(string); ok {
				legend, _ := v["legendFormat"].(string)
				prom = append(prom, query{where, e, legend})
			}
			if s, ok := v["rawSql"].(string); ok {
				sql = append(sql, sqlQuery{where, s})
			}
			if v["type"] == "query" {
				if def, ok := v["definition"].(string); ok {
					prom = append(prom, labelValuesQuery(t, where, def))
				}
			}
			for k, c := range v {
				walk(where+"."+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), c)
			}
		}
	}
	walk("", d)
	return prom, sql
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// labelValuesQuery turns label_values(selector, label) into a query whose
// legend names the label, so that the label is checked like a legend's.
func labelValuesQuery(t *testing.T, where, def string) query {
	m := labelValues.FindStringSubmatch(strings.TrimSpace(def))
	if m == nil {
		t.Errorf("%s: variable query %q is not label_values(selector, label)", where, def)
		return query{where: where}
	}
	return query{where, m[1], "{{" + m[2] + "}}"}
}

func TestDashboardQueries(t *testing.T) {
	metrics := known(t)
	d := loadDashboard(t)
	prom, sql := queries(t, d)
	if len(prom) < 40 || len(sql) == 0 {
		t.Fatalf("found %d PromQL and %d SQL queries in gantry.json; the walk is broken", len(prom), len(sql))
	}
	for _, q := range prom {
		if q.expr == "" {
			continue
		}
		if err := checkPromQL(q.expr, q.legend, metrics); err != nil {
			t.Errorf("%s: %s\n\t%s", q.where, err, q.expr)
		}
	}
	cols := ledgerColumns(t)
	for _, q := range sql {
		if err := checkSQL(q.sql, cols); err != nil {
			t.Errorf("%s: %s\n\t%s", q.where, err, q.sql)
		}
	}
}

// TestDashboardModel checks what Grafana needs to import the dashboard:
// the Prometheus datasource as an input, used by every Prometheus query,
// unique panel ids and a uid.
func TestDashboardModel(t *testing.T) {
	d := loadDashboard(t)
	inputs, _ := d["__inputs"].([]any)
	if len(inputs) != 1 || inputs[0].(map[string]any)["name"] != "DS_PROMETHEUS" || inputs[0].(map[string]any)["pluginId"] != "prometheus" {
		t.Errorf("__inputs = %v, want the DS_PROMETHEUS datasource input", inputs)
	}
	if d["uid"] == "" || d["title"] == "" || d["schemaVersion"] == nil {
		t.Errorf("uid %q, title %q, schemaVersion %v: all are needed", d["uid"], d["title"], d["schemaVersion"])
	}
	ids := map[float64]bool{}
	// cells maps each grid cell to the panel on it: panels must not
	// overlap, and the grid is 24 columns wide.
	cells := map[[2]int]any{}
	for _, p := range d["panels"].([]any) {
		p := p.(map[string]any)
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel %q: id %v used twice", p["title"], id)
		}
		ids[id] = true
		g, _ := p["gridPos"].(map[string]any)
		x, y, w, h := int(g["x"].(float64)), int(g["y"].(float64)), int(g["w"].(float64)), int(g["h"].(float64))
		if w <= 0 || h <= 0 || x < 0 || x+w > 24 {
			t.Errorf("panel %q: gridPos %v is off the 24-column grid", p["title"], g)
		}
	overlap:
		for cx := x; cx < x+w; cx++ {
			for cy := y; cy < y+h; cy++ {
				if other, ok := cells[[2]int{cx, cy}]; ok {
					t.Errorf("panel %q overlaps panel %q", p["title"], other)
					break overlap
				}
				cells[[2]int{cx, cy}] = p["title"]
			}
		}
		if p["type"] == "row" {
			continue
		}
		pds, _ := p["datasource"].(map[string]any)
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", p["title"])
		}
		for _, tg := range targets {
			ds, _ := tg.(map[string]any)["datasource"].(map[string]any)
			if ds["type"] != pds["type"] || ds["uid"] != pds["uid"] {
				t.Errorf("panel %q: a query's datasource %v differs from the panel's %v", p["title"], ds, pds)
			}
			if ds["type"] == "prometheus" && ds["uid"] != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q: Prometheus datasource %v, want uid ${DS_PROMETHEUS}", p["title"], ds)
			}
		}
	}
}

// promFunctions are the PromQL functions and aggregations the dashboard
// may call.
var promFunctions = []string{
	"abs", "absent", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp_max", "clamp_min", "count",
	"count_over_time", "delta", "deriv", "floor", "group", "histogram_quantile", "increase", "irate", "last_over_time",
	"max", "max_over_time", "min", "min_over_time", "quantile", "rate", "resets", "round", "scalar", "sort",
	"sort_desc", "stddev", "sum", "sum_over_time", "time", "timestamp", "topk", "vector",
}

// aggregations are the functions that may take their by or without
// clause before their arguments.
var aggregations = []string{"avg", "bottomk", "count", "group", "max", "min", "quantile", "stddev", "sum", "topk"}

// promKeywords are PromQL words that are neither metrics nor functions.
var promKeywords = []string{"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}

// labelLists are the clauses followed by a list of label names.
var labelLists = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// selector is a metric named in an expression, with the labels its
// matchers use.
type selector struct {
	name   string
	labels []string
}

// parsePromQL extracts the metric selectors of expr and the labels named
// in by, without, on, ignoring, group_left and group_right clauses. It is
// a scanner, not a parser: it knows strings, ranges, matchers and calls,
// which is all a dashboard query uses, and reports what it cannot read.
func parsePromQL(expr string) (sels []selector, clauseLabels []string, err error) {
	s := expr
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	ident := func() string {
		start := i
		for i < len(s) && (s[i] == '_' || s[i] == ':' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > start && s[i] >= '0' && s[i] <= '9') {
			i++
		}
		return s[start:i]
	}
	skipString := func() error {
		q := s[i]
		for i++; i < len(s); i++ {
			if s[i] == '\\' && q != '`' {
				i++
				continue
			}
			if s[i] == q {
				i++
				return nil
			}
		}
		return fmt.Errorf("unterminated string at %d", i)
	}
	// nameList reads "(a, b, ...)" after a clause keyword.
	nameList := func() error {
		skipSpace()
		if i >= len(s) || s[i] != '(' {
			return nil // group_left without labels
		}
		i++
		for {
			skipSpace()
			if i < len(s) && s[i] == ')' {
				i++
				return nil
			}
			l := ident()
			if l == "" {
				return fmt.Errorf("bad label list at %d", i)
			}
			clauseLabels = append(clauseLabels, l)
			skipSpace()
			if i < len(s) && s[i] == ',' {
				i++
			}
		}
	}
	// matchers reads "{l op "v", ...}" and returns the label names.
	matchers := func() ([]string, error) {
		var labels []string
		i++ // {
		for {
			skipSpace()
			if i < len(s) && s[i] == '}' {
				i++
				return labels, nil
			}
			l := ident()
			if l == "" {
				return nil, fmt.Errorf("bad matcher at %d", i)
			}
			labels = append(labels, l)
			skipSpace()
			for i < len(s) && strings.ContainsRune("=!~", rune(s[i])) {
				i++
			}
			skipSpace()
			if i >= len(s) || (s[i] != '"' && s[i] != '\'' && s[i] != '`') {
				return nil, fmt.Errorf("matcher of %s without a string value", l)
			}
			if err := skipString(); err != nil {
				return nil, err
			}
			skipSpace()
			if i < len(s) && s[i] == ',' {
				i++
			}
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || strings.IndexByte("()+-*/%^=!<>,", c) >= 0:
			i++
		case c == '"' || c == '\'' || c == '`':
			if err := skipString(); err != nil {
				return nil, nil, err
			}
		case c == '[':
			// A range or subquery: durations and Grafana variables.
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, nil, fmt.Errorf("unterminated range at %d", i)
			}
			i += end + 1
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (s[i] == '.' || s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
				i++
			}
		case c == '{':
			return nil, nil, fmt.Errorf("a selector without a metric name at %d", i)
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			word := ident()
			lower := strings.ToLower(word)
			skipSpace()
			next := byte(0)
			if i < len(s) {
				next = s[i]
			}
			switch {
			case slices.Contains(labelLists, lower):
				if err := nameList(); err != nil {
					return nil, nil, err
				}
			case slices.Contains(promKeywords, lower):
			case slices.Contains(aggregations, word) && (strings.HasPrefix(s[i:], "by") || strings.HasPrefix(s[i:], "without")):
				// "sum by (route) (...)": the clause comes first.
			case next == '(':
				if !slices.Contains(promFunctions, word) {
					return nil, nil, fmt.Errorf("unknown function %s", word)
				}
			default:
				sel := selector{name: word}
				if next == '{' {
					labels, err := matchers()
					if err != nil {
						return nil, nil, err
					}
					sel.labels = labels
				}
				sels = append(sels, sel)
			}
		default:
			return nil, nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return sels, clauseLabels, nil
}

var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// checkPromQL checks that expr names only known metrics (a histogram with
// its _bucket, _sum and _count series), that each label a matcher, a
// clause or the legend uses is one of the labels of the metrics it
// selects, and le only with a _bucket series.
func checkPromQL(expr, legend string, metrics map[string]metricInfo) error {
	sels, clause, err := parsePromQL(expr)
	if err != nil {
		return err
	}
	if len(sels) == 0 {
		return fmt.Errorf("no metric in the expression")
	}
	var errs []string
	var all metricInfo
	for _, sel := range sels {
		mi, ok := metrics[sel.name]
		if !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				base, cut := strings.CutSuffix(sel.name, suffix)
				if bm, found := metrics[base]; cut && found && bm.histogram {
					mi, ok = bm, true
					if suffix == "_bucket" {
						mi.labels = append(slices.Clone(mi.labels), "le")
					}
				}
			}
		}
		if !ok {
			errs = append(errs, fmt.Sprintf("metric %s is not exported", sel.name))
			continue
		}
		for _, l := range sel.labels {
			if !mi.has(l) {
				errs = append(errs, fmt.Sprintf("%s has no label %s (labels: %v)", sel.name, l, mi.labels))
			}
		}
		all.labels = append(all.labels, mi.labels...)
	}
	for _, l := range clause {
		if !all.has(l) {
			errs = append(errs, fmt.Sprintf("label %s of a by/on clause is on none of the metrics", l))
		}
	}
	for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
		if !all.has(m[1]) {
			errs = append(errs, fmt.Sprintf("legend label %s is on none of the metrics", m[1]))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

var (
	createTable = regexp.MustCompile(`(?s)CREATE TABLE usage_buckets(?:_new)? \((.*?)\n\);`)
	sqlIdent    = regexp.MustCompile(`\$__[a-zA-Z]+|[a-zA-Z_][a-zA-Z0-9_]*`)
)

// ledgerColumns reads the usage ledger's columns from its migration.
func ledgerColumns(t *testing.T) []string {
	t.Helper()
	// The table as the last migration that (re)creates it left it.
	files, err := filepath.Glob(filepath.Join("..", "..", "internal", "store", "migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var m [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if fm := createTable.FindSubmatch(b); fm != nil {
			m = fm
		}
	}
	if m == nil {
		t.Fatal("no CREATE TABLE usage_buckets in the migrations")
	}
	var cols []string
	for line := range strings.Lines(string(m[1])) {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] != "PRIMARY" {
			cols = append(cols, f[0])
		}
	}
	return cols
}

// TestDocsListEveryMetric fails when the registry exports a gantry_ metric
// that docs/metrics.md does not name, so a new metric cannot ship
// undocumented.
func TestDocsListEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range exportedMetrics(t) {
		if strings.HasPrefix(name, "gantry_") && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document %s", name)
		}
	}
}

var sqlWords = []string{"select", "from", "where", "and", "or", "not", "in", "group", "by", "order", "asc", "desc",
	"limit", "as", "sum", "count", "max", "min", "avg", "distinct", "usage_buckets"}

// checkSQL checks that sql reads the usage ledger and names only its
// columns, aliases it defines (AS name), SQL words and Grafana macros.
func checkSQL(sql string, cols []string) error {
	if !strings.Contains(sql, "FROM usage_buckets") {
		return fmt.Errorf("does not read usage_buckets")
	}
	words := sqlIdent.FindAllString(sql, -1)
	var aliases []string
	for i, w := range words {
		if strings.EqualFold(w, "as") && i+1 < len(words) {
			aliases = append(aliases, words[i+1])
		}
	}
	var errs []string
	for _, w := range words {
		switch {
		case strings.HasPrefix(w, "$__"), slices.Contains(sqlWords, strings.ToLower(w)), slices.Contains(cols, w), slices.Contains(aliases, w):
		default:
			errs = append(errs, fmt.Sprintf("%s is not a column of usage_buckets", w))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// TestPromQLChecker holds the checker to what it must catch.
func TestPromQLChecker(t *testing.T) {
	metrics := map[string]metricInfo{
		"gantry_requests_total":           {labels: []string{"route", "method", "status"}},
		"gantry_request_duration_seconds": {labels: []string{"route"}, histogram: true},
		"gantry_config_generation":        {},
	}
	tests := []struct {
		name, expr, legend, wantErr string
	}{
		{"rate by route", `sum by (route) (rate(gantry_requests_total{job=~"$job", status=~"5.."}[$__rate_interval]))`, "{{route}}", ""},
		{"histogram quantile", `histogram_quantile(0.99, sum by (le, route) (rate(gantry_request_duration_seconds_bucket{route=~"$route"}[5m])))`, "{{route}} p99", ""},
		{"mean from sum and count", `sum(rate(gantry_request_duration_seconds_sum[5m])) / sum(rate(gantry_request_duration_seconds_count[5m]))`, "", ""},
		{"vector fallback", `count(gantry_config_generation == 0) or vector(0)`, "", ""},
		{"unknown metric", `rate(gantry_request_total[5m])`, "", "gantry_request_total is not exported"},
		{"unknown label", `gantry_requests_total{code="200"}`, "", "has no label code"},
		{"le without a bucket", `sum by (le) (gantry_requests_total)`, "", "label le of a by/on clause"},
		{"bucket of a counter", `gantry_requests_total_bucket`, "", "is not exported"},
		{"legend label", `sum by (route) (gantry_requests_total)`, "{{upstream}}", "legend label upstream"},
		{"unknown function", `rates(gantry_requests_total[5m])`, "", "unknown function rates"},
		{"label in a string is no label", `gantry_requests_total{route="by (nope)"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPromQL(tt.expr, tt.legend, metrics)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkPromQL(%q) = %v, want error %q", tt.expr, err, tt.wantErr)
			}
		})
	}
}
