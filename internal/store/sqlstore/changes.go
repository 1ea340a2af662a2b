package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// maxChanges caps one page of Changes.
const maxChanges = 10000

// Changes returns changes with Seq > after, oldest first (at most limit,
// capped at MaxChanges), and the newest Seq seen: the last one returned, or
// after when there is none. With limit <= 0 it returns no changes and the
// newest Seq in the feed, so a starting node can begin from the head
// instead of replaying history.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.Change, int64, error) {
	r := s.d.Reader()
	if limit <= 0 {
		var head int64
		if err := r.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&head); err != nil {
			return nil, 0, fmt.Errorf("reading change feed head: %w", err)
		}
		return nil, head, nil
	}
	limit = min(limit, maxChanges)
	rows, err := r.Query(ctx, `SELECT seq, kind, consumer_id, key_hash FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, after, fmt.Errorf("reading changes after %d: %w", after, err)
	}
	defer rows.Close()
	var out []store.Change
	last := after
	for rows.Next() {
		var c store.Change
		if err := rows.Scan(&c.Seq, &c.Kind, &c.ConsumerID, &c.KeyHash); err != nil {
			return nil, after, fmt.Errorf("reading changes after %d: %w", after, err)
		}
		out = append(out, c)
		last = c.Seq
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("reading changes after %d: %w", after, err)
	}
	return out, last, nil
}

// PruneChanges deletes changes recorded before t, always keeping the newest
// so the head Seq survives. Nodes poll every second; a week-old entry only
// matters to a node that has not polled for a week, and such a node's
// cache has expired anyway.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) error {
	err := s.d.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `DELETE FROM changes WHERE at < $1 AND seq < (SELECT MAX(seq) FROM changes)`, normTime(before))
		return err
	})
	if err != nil {
		return fmt.Errorf("pruning changes: %w", err)
	}
	return nil
}
