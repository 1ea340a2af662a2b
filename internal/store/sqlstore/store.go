package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/gantry-dev/gantry/internal/store"
)

// Store is store.Store over a Driver. It is safe for concurrent use.
type Store struct {
	d Driver
}

var _ store.Store = (*Store)(nil)

// New returns a Store over d; the schema must already be migrated.
func New(d Driver) *Store {
	return &Store{d: d}
}

// Change kinds recorded in the feed.
const (
	kindKey      = "key"
	kindConsumer = "consumer"
)

const consumerCols = `id, plan, groups, source, created_at`

// CreateConsumer adds c. An empty Source means SourceAPI and a zero
// CreatedAt means now; ErrExists when the ID is taken.
func (s *Store) CreateConsumer(ctx context.Context, c store.Consumer) error {
	if c.ID == "" {
		return errors.New("creating consumer: empty id")
	}
	if c.Source == "" {
		c.Source = store.SourceAPI
	}
	if c.Source != store.SourceAPI && c.Source != store.SourceConfig {
		return fmt.Errorf("creating consumer %s: unknown source %q", c.ID, c.Source)
	}
	groups, err := encodeGroups(c.Groups)
	if err != nil {
		return fmt.Errorf("creating consumer %s: %w", c.ID, err)
	}
	created := c.CreatedAt
	if created.IsZero() {
		created = now()
	}
	err = s.d.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `INSERT INTO consumers (`+consumerCols+`) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			c.ID, c.Plan, groups, c.Source, normTime(created))
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrExists
		}
		// Recorded so that a node caching "no such consumer" learns of it.
		return recordConsumer(ctx, q, c.ID)
	})
	if err != nil {
		return fmt.Errorf("creating consumer %s: %w", c.ID, s.d.MapError(err))
	}
	return nil
}

// GetConsumer returns the consumer or ErrNotFound.
func (s *Store) GetConsumer(ctx context.Context, id string) (store.Consumer, error) {
	c, err := scanConsumer(s.d.Reader().QueryRow(ctx, `SELECT `+consumerCols+` FROM consumers WHERE id = $1`, id))
	if err != nil {
		return store.Consumer{}, fmt.Errorf("getting consumer %s: %w", id, err)
	}
	return c, nil
}

// ListConsumers returns every consumer, sorted by ID.
func (s *Store) ListConsumers(ctx context.Context) ([]store.Consumer, error) {
	rows, err := s.d.Reader().Query(ctx, `SELECT `+consumerCols+` FROM consumers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing consumers: %w", err)
	}
	defer rows.Close()
	out := []store.Consumer{}
	for rows.Next() {
		c, err := scanConsumer(rows)
		if err != nil {
			return nil, fmt.Errorf("listing consumers: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing consumers: %w", err)
	}
	return out, nil
}

// DeleteConsumer removes an API consumer and its keys, recording a change
// for each key and one for the consumer; ErrNotFound, or ErrReadOnly for a
// config consumer.
func (s *Store) DeleteConsumer(ctx context.Context, id string) error {
	err := s.d.Write(ctx, func(q Querier) error {
		var source string
		err := q.QueryRow(ctx, `SELECT source FROM consumers WHERE id = $1`, id).Scan(&source)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if source == store.SourceConfig {
			return store.ErrReadOnly
		}
		return deleteConsumer(ctx, q, id)
	})
	if err != nil {
		return fmt.Errorf("deleting consumer %s: %w", id, s.d.MapError(err))
	}
	return nil
}

// deleteConsumer removes the consumer and all its keys (whatever their
// source), with change rows.
func deleteConsumer(ctx context.Context, q Querier, id string) error {
	hashes, err := keyHashes(ctx, q, id)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM api_keys WHERE consumer_id = $1`, id); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM consumers WHERE id = $1`, id); err != nil {
		return err
	}
	for _, h := range hashes {
		if err := recordKey(ctx, q, id, h); err != nil {
			return err
		}
	}
	return recordConsumer(ctx, q, id)
}

func keyHashes(ctx context.Context, q Querier, consumerID string) ([][]byte, error) {
	rows, err := q.Query(ctx, `SELECT hash FROM api_keys WHERE consumer_id = $1 ORDER BY id`, consumerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.d.Ping(ctx); err != nil {
		return fmt.Errorf("pinging store: %w", err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	return s.d.Close()
}

func scanConsumer(r Row) (store.Consumer, error) {
	var (
		c      store.Consumer
		groups string
	)
	if err := r.Scan(&c.ID, &c.Plan, &groups, &c.Source, &c.CreatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, store.ErrNotFound
		}
		return c, err
	}
	var err error
	if c.Groups, err = decodeGroups(groups); err != nil {
		return c, fmt.Errorf("consumer %s: %w", c.ID, err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// encodeGroups stores groups as a JSON array, never null.
func encodeGroups(groups []string) (string, error) {
	if groups == nil {
		groups = []string{}
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return "", fmt.Errorf("encoding groups: %w", err)
	}
	return string(b), nil
}

func decodeGroups(s string) ([]string, error) {
	var groups []string
	if err := json.Unmarshal([]byte(s), &groups); err != nil {
		return nil, fmt.Errorf("decoding groups: %w", err)
	}
	if groups == nil {
		groups = []string{}
	}
	return groups, nil
}

func sameGroups(a, b []string) bool {
	return slices.Equal(a, b) || (len(a) == 0 && len(b) == 0)
}

func recordKey(ctx context.Context, q Querier, consumerID string, hash []byte) error {
	_, err := q.Exec(ctx, `INSERT INTO changes (kind, consumer_id, key_hash, at) VALUES ($1, $2, $3, $4)`,
		kindKey, consumerID, hash, now())
	return err
}

func recordConsumer(ctx context.Context, q Querier, id string) error {
	_, err := q.Exec(ctx, `INSERT INTO changes (kind, consumer_id, at) VALUES ($1, $2, $3)`,
		kindConsumer, id, now())
	return err
}
