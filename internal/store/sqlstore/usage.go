package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// usageCols are the ledger's columns in the order UpsertUsage binds them.
const usageCols = `node_id, bucket, consumer, route, version, model, requests, admitted, billable, units, errors, ` +
	`bytes_in, bytes_out, latency_us, ws_messages_in, ws_messages_out, ws_ms, input_tokens, output_tokens`

const usageColCount = 19

// usageBatch is how many rows one INSERT carries. Batches save round trips
// on PostgreSQL, but the SQLite driver binds parameters in time that grows
// with the square of their number: 20 rows (320 parameters) is about the
// fastest for both.
// (380 parameters with 19 columns.)
const usageBatch = 20

// usageUpdate replaces every measure: rows carry absolute totals.
const usageUpdate = ` ON CONFLICT (node_id, bucket, consumer, route, version, model) DO UPDATE SET ` +
	`requests = excluded.requests, admitted = excluded.admitted, billable = excluded.billable, ` +
	`units = excluded.units, errors = excluded.errors, bytes_in = excluded.bytes_in, ` +
	`bytes_out = excluded.bytes_out, latency_us = excluded.latency_us, ` +
	`ws_messages_in = excluded.ws_messages_in, ws_messages_out = excluded.ws_messages_out, ws_ms = excluded.ws_ms, ` +
	`input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens`

// UpsertUsage writes nodeID's rows in one transaction, replacing the
// measures of rows the node wrote before, so a retried write (after a
// timeout that hid a commit, say) writes the same numbers again.
func (s *Store) UpsertUsage(ctx context.Context, nodeID string, rows []store.UsageRow) error {
	if nodeID == "" {
		return errors.New("writing usage: empty node id")
	}
	if len(rows) == 0 {
		return nil
	}
	err := s.d.Write(ctx, func(q Querier) error {
		for start := 0; start < len(rows); start += usageBatch {
			batch := rows[start:min(start+usageBatch, len(rows))]
			if _, err := q.Exec(ctx, upsertSQL(len(batch)), usageArgs(nodeID, batch)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing %d usage rows: %w", len(rows), s.d.MapError(err))
	}
	return nil
}

// upsertSQL is the statement for n rows; the two sizes a flush uses (full
// batches and one remainder) are cheap to build again.
func upsertSQL(n int) string {
	var b strings.Builder
	b.Grow(64 + n*16*5 + len(usageUpdate))
	b.WriteString(`INSERT INTO usage_buckets (` + usageCols + `) VALUES `)
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range usageColCount {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "$%d", p)
			p++
		}
		b.WriteByte(')')
	}
	b.WriteString(usageUpdate)
	return b.String()
}

func usageArgs(nodeID string, rows []store.UsageRow) []any {
	args := make([]any, 0, len(rows)*usageColCount)
	for _, r := range rows {
		c := r.UsageCounts
		args = append(args, nodeID, r.Bucket.Unix(), r.Consumer, r.Route, r.Version, r.Model,
			c.Requests, c.Admitted, c.Billable, c.Units, c.Errors, c.BytesIn, c.BytesOut,
			c.LatencyMicros, c.WSMessagesIn, c.WSMessagesOut, c.WSMillis, c.InputTokens, c.OutputTokens)
	}
	return args
}

// usageSums are the summed measures, cast back to 64-bit integers
// (PostgreSQL sums BIGINT into NUMERIC), in UsageCounts order.
const usageSums = `CAST(SUM(requests) AS BIGINT), CAST(SUM(admitted) AS BIGINT), CAST(SUM(billable) AS BIGINT), ` +
	`CAST(SUM(units) AS BIGINT), CAST(SUM(errors) AS BIGINT), CAST(SUM(bytes_in) AS BIGINT), ` +
	`CAST(SUM(bytes_out) AS BIGINT), CAST(SUM(latency_us) AS BIGINT), CAST(SUM(ws_messages_in) AS BIGINT), ` +
	`CAST(SUM(ws_messages_out) AS BIGINT), CAST(SUM(ws_ms) AS BIGINT), ` +
	`CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT)`

// QueryUsage sums the ledger across nodes. Days and hours are UTC: the
// bucket column is Unix seconds, so integer division finds them the same
// way in both databases.
func (s *Store) QueryUsage(ctx context.Context, q store.UsageQuery) ([]store.UsageTotal, error) {
	// Constants are selected but never grouped by: both databases read a
	// number in GROUP BY as a column position.
	period, route, model, group := `0`, `''`, `''`, `consumer`
	switch q.GroupBy {
	case store.GroupByNone:
	case store.GroupByDay:
		period = `(bucket / 86400) * 86400`
		group += `, ` + period
	case store.GroupByHour:
		period = `(bucket / 3600) * 3600`
		group += `, ` + period
	case store.GroupByRoute:
		route = `route`
		group += `, route`
	case store.GroupByModel:
		model = `model`
		group += `, model`
	default:
		return nil, fmt.Errorf("querying usage: unknown grouping %q", q.GroupBy)
	}
	if !q.From.Before(q.To) {
		return []store.UsageTotal{}, nil
	}
	where := `bucket >= $1 AND bucket < $2`
	args := []any{ceilUnix(q.From), ceilUnix(q.To)}
	if q.Consumer != "" {
		where += ` AND consumer = $3`
		args = append(args, q.Consumer)
	}
	query := `SELECT consumer, ` + period + ` AS period, ` + route + ` AS route, ` + model + ` AS model, ` + usageSums +
		` FROM usage_buckets WHERE ` + where + ` GROUP BY ` + group
	rows, err := s.d.Reader().Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("querying usage: %w", err)
	}
	defer rows.Close()
	out := []store.UsageTotal{}
	for rows.Next() {
		var (
			t store.UsageTotal
			p int64
			c = &t.UsageCounts
		)
		if err := rows.Scan(&t.Consumer, &p, &t.Route, &t.Model, &c.Requests, &c.Admitted, &c.Billable, &c.Units,
			&c.Errors, &c.BytesIn, &c.BytesOut, &c.LatencyMicros, &c.WSMessagesIn, &c.WSMessagesOut, &c.WSMillis,
			&c.InputTokens, &c.OutputTokens); err != nil {
			return nil, fmt.Errorf("querying usage: %w", err)
		}
		if q.GroupBy == store.GroupByDay || q.GroupBy == store.GroupByHour {
			t.Period = time.Unix(p, 0).UTC()
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("querying usage: %w", err)
	}
	// Sorted here, byte by byte: PostgreSQL's ORDER BY would follow the
	// database's collation, and the two databases would disagree.
	slices.SortFunc(out, func(a, b store.UsageTotal) int {
		return cmp.Or(strings.Compare(a.Consumer, b.Consumer), a.Period.Compare(b.Period), strings.Compare(a.Route, b.Route),
			strings.Compare(a.Model, b.Model))
	})
	return out, nil
}

// ceilUnix is t in Unix seconds, rounded up: buckets start on whole
// seconds, so bucket >= ceilUnix(t) and bucket < ceilUnix(t) compare with
// t itself exactly.
func ceilUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}

// DeleteUsageBefore removes the rows whose bucket starts before t.
func (s *Store) DeleteUsageBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.d.Write(ctx, func(q Querier) error {
		var err error
		n, err = q.Exec(ctx, `DELETE FROM usage_buckets WHERE bucket < $1`, ceilUnix(t))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting usage before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// SaveQuotaCounts upserts the counters by key with absolute values, and
// deletes the saved counters whose period has ended, in one transaction.
func (s *Store) SaveQuotaCounts(ctx context.Context, counts []store.QuotaCount) error {
	for _, c := range counts {
		if c.Key == "" {
			return errors.New("saving quota counts: empty key")
		}
	}
	err := s.d.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM quota_counts WHERE period_end <= $1`, now()); err != nil {
			return err
		}
		for _, c := range counts {
			if _, err := q.Exec(ctx, `INSERT INTO quota_counts (key, period_end, count) VALUES ($1, $2, $3) `+
				`ON CONFLICT (key) DO UPDATE SET period_end = excluded.period_end, count = excluded.count`,
				c.Key, normTime(c.PeriodEnd), c.Count); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving %d quota counts: %w", len(counts), s.d.MapError(err))
	}
	return nil
}

// LoadQuotaCounts returns the counters whose period ends after now, by key.
func (s *Store) LoadQuotaCounts(ctx context.Context, at time.Time) ([]store.QuotaCount, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT key, period_end, count FROM quota_counts WHERE period_end > $1 ORDER BY key`, normTime(at))
	if err != nil {
		return nil, fmt.Errorf("loading quota counts: %w", err)
	}
	defer rows.Close()
	out := []store.QuotaCount{}
	for rows.Next() {
		var c store.QuotaCount
		if err := rows.Scan(&c.Key, &c.PeriodEnd, &c.Count); err != nil {
			return nil, fmt.Errorf("loading quota counts: %w", err)
		}
		c.PeriodEnd = c.PeriodEnd.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading quota counts: %w", err)
	}
	return out, nil
}
