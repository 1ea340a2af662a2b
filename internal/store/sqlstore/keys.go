package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

const keyCols = `id, consumer_id, prefix, hash, source, created_at, revoked_at`

// CreateKey stores k. An empty Source means SourceAPI and a zero CreatedAt
// means now. ErrNotFound when the consumer does not exist, ErrExists when
// the ID or the hash is already stored.
func (s *Store) CreateKey(ctx context.Context, k store.APIKey) error {
	switch {
	case k.ID == "":
		return errors.New("creating key: empty id")
	case k.ConsumerID == "":
		return fmt.Errorf("creating key %s: empty consumer", k.ID)
	case len(k.Hash) == 0:
		return fmt.Errorf("creating key %s: empty hash", k.ID)
	}
	if k.Source == "" {
		k.Source = store.SourceAPI
	}
	if k.Source != store.SourceAPI && k.Source != store.SourceConfig {
		return fmt.Errorf("creating key %s: unknown source %q", k.ID, k.Source)
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = now()
	}
	err := s.d.Write(ctx, func(q Querier) error {
		if err := consumerExists(ctx, q, k.ConsumerID); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `INSERT INTO api_keys (id, consumer_id, prefix, hash, source, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			k.ID, k.ConsumerID, k.Prefix, k.Hash, k.Source, normTime(created))
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrExists
		}
		// Recorded so that a node caching "unknown key" learns of it.
		return recordKey(ctx, q, k.ConsumerID, k.Hash)
	})
	if err != nil {
		return fmt.Errorf("creating key %s for consumer %s: %w", k.ID, k.ConsumerID, s.d.MapError(err))
	}
	return nil
}

// ListKeys returns the consumer's keys, revoked ones included, oldest
// first; ErrNotFound when the consumer does not exist.
func (s *Store) ListKeys(ctx context.Context, consumerID string) ([]store.APIKey, error) {
	r := s.d.Reader()
	rows, err := r.Query(ctx, `SELECT `+keyCols+` FROM api_keys WHERE consumer_id = $1 ORDER BY created_at, id`, consumerID)
	if err != nil {
		return nil, fmt.Errorf("listing keys of %s: %w", consumerID, err)
	}
	defer rows.Close()
	out := []store.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("listing keys of %s: %w", consumerID, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing keys of %s: %w", consumerID, err)
	}
	rows.Close()
	if len(out) == 0 {
		if err := consumerExists(ctx, r, consumerID); err != nil {
			return nil, fmt.Errorf("listing keys of %s: %w", consumerID, err)
		}
	}
	return out, nil
}

// RevokeKey marks the key revoked and records the change. ErrNotFound when
// the key is not the consumer's, ErrReadOnly when it comes from the config
// file. Revoking a revoked key succeeds and keeps the first revocation time.
func (s *Store) RevokeKey(ctx context.Context, consumerID, keyID string) error {
	err := s.d.Write(ctx, func(q Querier) error {
		var (
			source  string
			hash    []byte
			revoked *time.Time
		)
		err := q.QueryRow(ctx, `SELECT source, hash, revoked_at FROM api_keys WHERE id = $1 AND consumer_id = $2`,
			keyID, consumerID).Scan(&source, &hash, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if source == store.SourceConfig {
			return store.ErrReadOnly
		}
		if revoked != nil {
			return nil
		}
		if _, err := q.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2`, now(), keyID); err != nil {
			return err
		}
		return recordKey(ctx, q, consumerID, hash)
	})
	if err != nil {
		return fmt.Errorf("revoking key %s of %s: %w", keyID, consumerID, s.d.MapError(err))
	}
	return nil
}

// LookupKey finds the live key with this hash and its consumer;
// ErrNotFound otherwise. The database matches the hash through its unique
// index; callers compare the hash of the presented key in constant time.
func (s *Store) LookupKey(ctx context.Context, hash []byte) (store.APIKey, store.Consumer, error) {
	var (
		k      store.APIKey
		c      store.Consumer
		groups string
	)
	err := s.d.Reader().QueryRow(ctx, `SELECT k.id, k.consumer_id, k.prefix, k.hash, k.source, k.created_at,
		c.id, c.plan, c.groups, c.source, c.created_at
		FROM api_keys k JOIN consumers c ON c.id = k.consumer_id
		WHERE k.hash = $1 AND k.revoked_at IS NULL`, hash).Scan(
		&k.ID, &k.ConsumerID, &k.Prefix, &k.Hash, &k.Source, &k.CreatedAt,
		&c.ID, &c.Plan, &groups, &c.Source, &c.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return k, c, fmt.Errorf("looking up key: %w", store.ErrNotFound)
	}
	if err != nil {
		return k, c, fmt.Errorf("looking up key: %w", err)
	}
	if c.Groups, err = decodeGroups(groups); err != nil {
		return store.APIKey{}, store.Consumer{}, fmt.Errorf("looking up key: consumer %s: %w", c.ID, err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	c.CreatedAt = c.CreatedAt.UTC()
	return k, c, nil
}

func scanKey(r Row) (store.APIKey, error) {
	var k store.APIKey
	if err := r.Scan(&k.ID, &k.ConsumerID, &k.Prefix, &k.Hash, &k.Source, &k.CreatedAt, &k.RevokedAt); err != nil {
		return k, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return k, nil
}

func consumerExists(ctx context.Context, q Querier, id string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM consumers WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("consumer %s: %w", id, store.ErrNotFound)
	}
	return err
}
