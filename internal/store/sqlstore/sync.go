package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// SyncConfig makes consumers and keys the current set of config rows, in
// one transaction:
//
//   - a consumer is matched by ID and a key by hash; new ones are inserted,
//     changed ones updated, and those no longer listed deleted (a removed
//     consumer takes all its keys with it, API keys included);
//   - the file wins a collision: an API consumer or key with a listed ID or
//     hash becomes a config row (a revoked key is live again, since the
//     file lists it);
//   - a key with an empty ID gets "cfg_" and 16 hex digits of its hash;
//   - every row that changes records a change, and an unchanged file
//     records none.
//
// Each key must name a listed consumer. CreatedAt and Source of the
// arguments are ignored.
func (s *Store) SyncConfig(ctx context.Context, consumers []store.Consumer, keys []store.APIKey) error {
	want, err := checkSync(consumers, keys)
	if err != nil {
		return fmt.Errorf("syncing config consumers: %w", err)
	}
	err = s.d.Write(ctx, func(q Querier) error {
		if err := syncConsumers(ctx, q, consumers); err != nil {
			return err
		}
		if err := syncKeys(ctx, q, keys); err != nil {
			return err
		}
		return removeConsumers(ctx, q, want)
	})
	if err != nil {
		return fmt.Errorf("syncing config consumers: %w", s.d.MapError(err))
	}
	return nil
}

// checkSync validates the arguments before touching the database and
// returns the set of consumer IDs.
func checkSync(consumers []store.Consumer, keys []store.APIKey) (map[string]bool, error) {
	var errs []error
	ids := make(map[string]bool, len(consumers))
	for _, c := range consumers {
		switch {
		case c.ID == "":
			errs = append(errs, errors.New("consumer with empty id"))
		case ids[c.ID]:
			errs = append(errs, fmt.Errorf("consumer %s listed twice", c.ID))
		}
		ids[c.ID] = true
	}
	hashes := make(map[string]bool, len(keys))
	for i, k := range keys {
		h := string(k.Hash)
		switch {
		case len(k.Hash) == 0:
			errs = append(errs, fmt.Errorf("key %d of %s: empty hash", i, k.ConsumerID))
		case !ids[k.ConsumerID]:
			errs = append(errs, fmt.Errorf("key %d: consumer %q is not in the config: %w", i, k.ConsumerID, store.ErrNotFound))
		case hashes[h]:
			errs = append(errs, fmt.Errorf("key %d of %s: same key listed twice", i, k.ConsumerID))
		}
		hashes[h] = true
	}
	return ids, errors.Join(errs...)
}

func syncConsumers(ctx context.Context, q Querier, consumers []store.Consumer) error {
	for _, c := range consumers {
		groups, err := encodeGroups(c.Groups)
		if err != nil {
			return fmt.Errorf("consumer %s: %w", c.ID, err)
		}
		cur, err := scanConsumer(q.QueryRow(ctx, `SELECT `+consumerCols+` FROM consumers WHERE id = $1`, c.ID))
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = q.Exec(ctx, `INSERT INTO consumers (`+consumerCols+`) VALUES ($1, $2, $3, $4, $5)`,
				c.ID, c.Plan, groups, store.SourceConfig, now())
		case err != nil:
			return err
		case cur.Source == store.SourceConfig && cur.Plan == c.Plan && sameGroups(cur.Groups, c.Groups):
			continue
		default:
			_, err = q.Exec(ctx, `UPDATE consumers SET plan = $1, groups = $2, source = $3 WHERE id = $4`,
				c.Plan, groups, store.SourceConfig, c.ID)
		}
		if err != nil {
			return fmt.Errorf("consumer %s: %w", c.ID, err)
		}
		if err := recordConsumer(ctx, q, c.ID); err != nil {
			return err
		}
	}
	return nil
}

func syncKeys(ctx context.Context, q Querier, keys []store.APIKey) error {
	stale, err := configKeys(ctx, q)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(stale, string(k.Hash))
		if k.ID == "" {
			k.ID = "cfg_" + hex.EncodeToString(k.Hash[:min(8, len(k.Hash))])
		}
		var (
			id, consumer, prefix, source string
			revoked                      *time.Time
		)
		err := q.QueryRow(ctx, `SELECT id, consumer_id, prefix, source, revoked_at FROM api_keys WHERE hash = $1`, k.Hash).
			Scan(&id, &consumer, &prefix, &source, &revoked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			var n int64
			n, err = q.Exec(ctx, `INSERT INTO api_keys (id, consumer_id, prefix, hash, source, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				k.ID, k.ConsumerID, k.Prefix, k.Hash, store.SourceConfig, now())
			if err == nil && n == 0 {
				err = fmt.Errorf("id %s: %w", k.ID, store.ErrExists)
			}
		case err != nil:
			return err
		case source == store.SourceConfig && consumer == k.ConsumerID && prefix == k.Prefix && revoked == nil:
			continue
		default:
			_, err = q.Exec(ctx, `UPDATE api_keys SET consumer_id = $1, prefix = $2, source = $3, revoked_at = NULL WHERE hash = $4`,
				k.ConsumerID, k.Prefix, store.SourceConfig, k.Hash)
		}
		if err != nil {
			return fmt.Errorf("key %s of %s: %w", k.ID, k.ConsumerID, err)
		}
		if err := recordKey(ctx, q, k.ConsumerID, k.Hash); err != nil {
			return err
		}
	}
	for _, h := range slices.Sorted(maps.Keys(stale)) {
		k := stale[h]
		if _, err := q.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, k.ID); err != nil {
			return fmt.Errorf("removing key %s of %s: %w", k.ID, k.ConsumerID, err)
		}
		if err := recordKey(ctx, q, k.ConsumerID, k.Hash); err != nil {
			return err
		}
	}
	return nil
}

// configKeys returns the stored config keys by hash.
func configKeys(ctx context.Context, q Querier) (map[string]store.APIKey, error) {
	rows, err := q.Query(ctx, `SELECT `+keyCols+` FROM api_keys WHERE source = $1`, store.SourceConfig)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]store.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out[string(k.Hash)] = k
	}
	return out, rows.Err()
}

// removeConsumers deletes the config consumers not in keep.
func removeConsumers(ctx context.Context, q Querier, keep map[string]bool) error {
	rows, err := q.Query(ctx, `SELECT id FROM consumers WHERE source = $1 ORDER BY id`, store.SourceConfig)
	if err != nil {
		return err
	}
	defer rows.Close()
	var gone []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if !keep[id] {
			gone = append(gone, id)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	for _, id := range gone {
		if err := deleteConsumer(ctx, q, id); err != nil {
			return fmt.Errorf("removing consumer %s: %w", id, err)
		}
	}
	return nil
}
