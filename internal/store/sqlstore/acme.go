package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/certmagic"
)

// Lock timing of CertStorage.
const (
	// DefaultLockLease is how long a lock stays held without its holder
	// extending it: a node that dies holding a lock blocks the others
	// this long at most.
	DefaultLockLease = time.Minute
	// DefaultLockPoll is the longest wait between two attempts to take a
	// held lock; attempts start faster and back off to it.
	DefaultLockPoll = time.Second
)

// CertStorage is certmagic.Storage in the tables acme_storage and
// acme_locks: certificates, keys and the ACME account shared by every node
// on the database, and locks that keep two nodes from obtaining the same
// certificate at once. It is safe for concurrent use.
type CertStorage struct {
	d Driver
	// lease and poll are DefaultLockLease and DefaultLockPoll but in
	// tests.
	lease, poll time.Duration

	mu sync.Mutex
	// held maps a lock name this value took to its token and the stop of
	// its lease renewal.
	held map[string]heldLock
}

type heldLock struct {
	owner string
	stop  context.CancelFunc
	done  chan struct{}
}

var _ certmagic.Storage = (*CertStorage)(nil)

// CertStorage returns the certmagic storage over the same database.
func (s *Store) CertStorage() certmagic.Storage {
	return NewCertStorage(s, DefaultLockLease, DefaultLockPoll)
}

// NewCertStorage returns a CertStorage over s's database with the given
// lock lease and longest poll interval.
func NewCertStorage(s *Store, lease, poll time.Duration) *CertStorage {
	return &CertStorage{d: s.d, lease: lease, poll: poll, held: map[string]heldLock{}}
}

// cleanKey drops the slashes around key; certmagic joins keys with "/".
func cleanKey(key string) string { return strings.Trim(key, "/") }

// Store puts value at key, replacing what was there.
func (c *CertStorage) Store(ctx context.Context, key string, value []byte) error {
	key = cleanKey(key)
	if key == "" {
		return errors.New("storing certificate data: empty key")
	}
	if value == nil {
		value = []byte{}
	}
	err := c.d.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `INSERT INTO acme_storage (key, value, modified) VALUES ($1, $2, $3) `+
			`ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, value, now())
		return err
	})
	if err != nil {
		return fmt.Errorf("storing certificate data %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or an error satisfying
// errors.Is(err, fs.ErrNotExist).
func (c *CertStorage) Load(ctx context.Context, key string) ([]byte, error) {
	key = cleanKey(key)
	var v []byte
	err := c.d.Reader().QueryRow(ctx, `SELECT value FROM acme_storage WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("loading certificate data %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("loading certificate data %s: %w", key, err)
	}
	return v, nil
}

// underPrefix matches the keys below the directory $1 (with its trailing
// slash), $2 its length in characters. substr counts characters in both
// databases and needs none of the escaping LIKE would.
const underPrefix = `substr(key, 1, $2) = $1`

func dirArgs(key string) (string, int) {
	p := key + "/"
	return p, utf8.RuneCountInString(p)
}

// Delete removes key and, when key is a directory, every key below it.
// Deleting what does not exist succeeds.
func (c *CertStorage) Delete(ctx context.Context, key string) error {
	key = cleanKey(key)
	p, n := dirArgs(key)
	err := c.d.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `DELETE FROM acme_storage WHERE key = $3 OR `+underPrefix, p, n, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting certificate data %s: %w", key, err)
	}
	return nil
}

// Exists says whether key is a stored key or a directory of keys.
func (c *CertStorage) Exists(ctx context.Context, key string) bool {
	_, err := c.Stat(ctx, key)
	return err == nil
}

// Stat describes key: a stored key (terminal), or a directory of keys.
func (c *CertStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	key = cleanKey(key)
	var (
		v   []byte
		mod time.Time
	)
	err := c.d.Reader().QueryRow(ctx, `SELECT value, modified FROM acme_storage WHERE key = $1`, key).Scan(&v, &mod)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: mod.UTC(), Size: int64(len(v)), IsTerminal: true}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat of certificate data %s: %w", key, err)
	}
	if key == "" {
		return certmagic.KeyInfo{}, fmt.Errorf("stat of certificate data: empty key: %w", fs.ErrNotExist)
	}
	// A directory: modified when the newest key below it was.
	p, n := dirArgs(key)
	err = c.d.Reader().QueryRow(ctx, `SELECT modified FROM acme_storage WHERE `+underPrefix+` ORDER BY modified DESC LIMIT 1`,
		p, n).Scan(&mod)
	if errors.Is(err, sql.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat of certificate data %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat of certificate data %s: %w", key, err)
	}
	return certmagic.KeyInfo{Key: key, Modified: mod.UTC(), IsTerminal: false}, nil
}

// List returns the keys below the directory prefix ("" for the root) as
// full keys: its direct children, stored keys and directories alike, or
// with recursive every key and directory beneath it, sorted. A prefix
// with nothing below it is fs.ErrNotExist.
func (c *CertStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	prefix = cleanKey(prefix)
	query, args := `SELECT key FROM acme_storage`, []any(nil)
	start := ""
	if prefix != "" {
		p, n := dirArgs(prefix)
		query += ` WHERE ` + underPrefix
		args = []any{p, n}
		start = p
	}
	rows, err := c.d.Reader().Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing certificate data %s: %w", prefix, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("listing certificate data %s: %w", prefix, err)
		}
		rest := strings.TrimPrefix(k, start)
		parts := strings.Split(rest, "/")
		if !recursive {
			parts = parts[:1]
		}
		for i := range parts {
			seen[start+strings.Join(parts[:i+1], "/")] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing certificate data %s: %w", prefix, err)
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("listing certificate data %s: %w", prefix, fs.ErrNotExist)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// Lock takes the lock name, waiting until it is free (or its holder's
// lease has run out) or ctx ends. The lease is extended in the background
// until Unlock.
func (c *CertStorage) Lock(ctx context.Context, name string) error {
	owner := token()
	wait := min(10*time.Millisecond, c.poll)
	for {
		ok, err := c.tryLock(ctx, name, owner)
		if err != nil {
			return fmt.Errorf("taking lock %s: %w", name, err)
		}
		if ok {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("taking lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, c.poll)
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h := heldLock{owner: owner, stop: stop, done: make(chan struct{})}
	go c.renew(rctx, name, owner, h.done)
	c.mu.Lock()
	c.held[name] = h
	c.mu.Unlock()
	return nil
}

// tryLock takes name for owner when no live lease holds it.
func (c *CertStorage) tryLock(ctx context.Context, name, owner string) (bool, error) {
	var taken bool
	err := c.d.Write(ctx, func(q Querier) error {
		at := time.Now().UnixMilli()
		if _, err := q.Exec(ctx, `DELETE FROM acme_locks WHERE name = $1 AND expires <= $2`, name, at); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `INSERT INTO acme_locks (name, owner, expires) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			name, owner, at+c.lease.Milliseconds())
		taken = n == 1
		return err
	})
	return taken, err
}

// renew extends owner's lease on name every third of a lease until ctx
// ends. A failed renewal is retried at the next tick; the lease covers
// two of them.
func (c *CertStorage) renew(ctx context.Context, name, owner string, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(c.lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_ = c.d.Write(ctx, func(q Querier) error {
			_, err := q.Exec(ctx, `UPDATE acme_locks SET expires = $1 WHERE name = $2 AND owner = $3`,
				time.Now().UnixMilli()+c.lease.Milliseconds(), name, owner)
			return err
		})
	}
}

// Unlock releases the lock name taken through this value. Releasing a
// lock it does not hold is an error.
func (c *CertStorage) Unlock(ctx context.Context, name string) error {
	c.mu.Lock()
	h, ok := c.held[name]
	delete(c.held, name)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("releasing lock %s: not held", name)
	}
	h.stop()
	<-h.done
	err := c.d.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `DELETE FROM acme_locks WHERE name = $1 AND owner = $2`, name, h.owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("releasing lock %s: %w", name, err)
	}
	return nil
}

// token is a random lock owner, unique across nodes.
func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
