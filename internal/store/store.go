package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every implementation.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrReadOnly is returned when changing a consumer that comes from the
	// config file.
	ErrReadOnly = errors.New("defined in the config file; change it there")
)

// Source says where a consumer was defined.
const (
	SourceAPI    = "api"
	SourceConfig = "config"
)

// Consumer is a caller of the APIs, on a plan, in groups.
type Consumer struct {
	ID        string    `json:"id"`
	Plan      string    `json:"plan,omitempty"`
	Groups    []string  `json:"groups"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is a stored key: never the plaintext, only its SHA-256 hash and a
// short non-secret prefix for display.
type APIKey struct {
	ID         string     `json:"id"`
	ConsumerID string     `json:"consumer"`
	Prefix     string     `json:"prefix"`
	Hash       []byte     `json:"-"`
	Source     string     `json:"source"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Change is one entry of the change feed: something a cache may hold has
// changed. Kind is "key" (KeyHash set) or "consumer" (ConsumerID set).
type Change struct {
	Seq        int64
	Kind       string
	ConsumerID string
	KeyHash    []byte
}

// Store is the storage interface. Implementations are safe for concurrent
// use; every method honours ctx.
type Store interface {
	// CreateConsumer adds c; ErrExists when the ID is taken.
	CreateConsumer(ctx context.Context, c Consumer) error
	// GetConsumer returns the consumer or ErrNotFound.
	GetConsumer(ctx context.Context, id string) (Consumer, error)
	// ListConsumers returns every consumer, sorted by ID.
	ListConsumers(ctx context.Context) ([]Consumer, error)
	// DeleteConsumer removes the consumer and revokes its keys; ErrNotFound,
	// or ErrReadOnly for a config consumer.
	DeleteConsumer(ctx context.Context, id string) error

	// CreateKey stores k (ID, ConsumerID, Prefix and Hash set by the caller);
	// ErrNotFound when the consumer does not exist.
	CreateKey(ctx context.Context, k APIKey) error
	// ListKeys returns the consumer's keys, revoked ones included.
	ListKeys(ctx context.Context, consumerID string) ([]APIKey, error)
	// RevokeKey marks the key revoked; ErrNotFound when it is not the
	// consumer's or already gone, ErrReadOnly for a config key. Revoking a
	// revoked key succeeds.
	RevokeKey(ctx context.Context, consumerID, keyID string) error
	// LookupKey finds the live (not revoked) key with this SHA-256 hash and
	// its consumer; ErrNotFound otherwise.
	LookupKey(ctx context.Context, hash []byte) (APIKey, Consumer, error)

	// SyncConfig makes the config-file consumers and keys the current set of
	// Source "config" rows: adds, updates, and removes those no longer in
	// the file, in one transaction, recording changes. API rows are kept.
	SyncConfig(ctx context.Context, consumers []Consumer, keys []APIKey) error

	// Changes returns changes with Seq > after, oldest first (at most limit),
	// and the newest Seq seen. Nodes poll it to invalidate caches. With
	// limit <= 0 it returns no changes and the feed's current head, where a
	// starting node begins.
	Changes(ctx context.Context, after int64, limit int) ([]Change, int64, error)

	// Ping checks the database is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// QuotaCount is a quota counter kept by a gateway that counts in memory:
// saved to storage on shutdown and restored at start, so a restart does not
// hand a consumer a fresh allowance. Rows past PeriodEnd are worthless.
type QuotaCount struct {
	Key       string
	PeriodEnd time.Time
	Count     int64
}
