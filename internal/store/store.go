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

	// UpsertUsage writes one node's rows of the usage ledger in one
	// transaction. Each row holds absolute totals for its (bucket,
	// consumer, route, version) and replaces what the node wrote for that
	// key before, so writing the same rows twice changes nothing.
	UpsertUsage(ctx context.Context, nodeID string, rows []UsageRow) error
	// QueryUsage sums the ledger over every node for q.Consumer (every
	// consumer when empty) and buckets in [q.From, q.To), one total per
	// consumer and q.GroupBy key, sorted by consumer, period and route.
	QueryUsage(ctx context.Context, q UsageQuery) ([]UsageTotal, error)
	// DeleteUsageBefore removes the rows whose bucket starts before t and
	// returns how many it removed.
	DeleteUsageBefore(ctx context.Context, t time.Time) (int64, error)

	// SaveQuotaCounts upserts counters by Key with absolute values, and
	// forgets those whose period has ended.
	SaveQuotaCounts(ctx context.Context, counts []QuotaCount) error
	// LoadQuotaCounts returns the saved counters whose PeriodEnd is after
	// now, sorted by Key.
	LoadQuotaCounts(ctx context.Context, now time.Time) ([]QuotaCount, error)

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

// Grouping of a UsageQuery.
const (
	// GroupByNone gives one total per consumer for the whole range.
	GroupByNone = ""
	// GroupByDay and GroupByHour give one total per consumer and UTC day
	// or hour.
	GroupByDay  = "day"
	GroupByHour = "hour"
	// GroupByRoute gives one total per consumer and route for the range.
	GroupByRoute = "route"
	// GroupByModel gives one total per consumer and LLM model for the
	// range ("" for requests of routes without llm).
	GroupByModel = "model"
)

// UsageCounts are the additive measures of the usage ledger. See
// docs/usage.md for what each one counts.
type UsageCounts struct {
	// Requests reached a route, whatever happened next.
	Requests int64
	// Admitted passed authentication, rate limits and quota.
	Admitted int64
	// Billable were admitted and answered with a status below 500.
	Billable int64
	// Units are summed over billable requests: 1 each, or what the
	// upstream reported.
	Units int64
	// Errors were answered with a status of 400 or more.
	Errors int64
	// BytesIn and BytesOut are body bytes from and to clients.
	BytesIn  int64
	BytesOut int64
	// LatencyMicros is the sum of the requests' durations in microseconds.
	LatencyMicros int64
	// WSMessagesIn and WSMessagesOut are WebSocket data messages from and
	// to clients; WSMillis the time WebSocket connections stayed open.
	WSMessagesIn  int64
	WSMessagesOut int64
	WSMillis      int64
	// InputTokens and OutputTokens are the LLM tokens upstreams reported
	// for admitted requests on routes with llm.
	InputTokens  int64
	OutputTokens int64
}

// Add adds o to c.
func (c *UsageCounts) Add(o UsageCounts) {
	c.Requests += o.Requests
	c.Admitted += o.Admitted
	c.Billable += o.Billable
	c.Units += o.Units
	c.Errors += o.Errors
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
	c.LatencyMicros += o.LatencyMicros
	c.WSMessagesIn += o.WSMessagesIn
	c.WSMessagesOut += o.WSMessagesOut
	c.WSMillis += o.WSMillis
	c.InputTokens += o.InputTokens
	c.OutputTokens += o.OutputTokens
}

// UsageRow is one node's totals for one minute of one consumer (""
// for anonymous callers) on one route, API version and LLM model.
type UsageRow struct {
	// Bucket is when the bucket starts: a minute for the meter. It is kept
	// to the second and read back in UTC.
	Bucket   time.Time
	Consumer string
	Route    string
	Version  string
	// Model is the LLM model of a route with llm, "" elsewhere.
	Model string
	UsageCounts
}

// UsageQuery selects and groups ledger rows.
type UsageQuery struct {
	// Consumer limits the totals to one consumer; empty means all.
	Consumer string
	// From (inclusive) and To (exclusive) bound the buckets' start.
	From, To time.Time
	// GroupBy is GroupByNone, GroupByDay, GroupByHour, GroupByRoute or
	// GroupByModel.
	GroupBy string
}

// UsageTotal is the sum of the ledger rows of one consumer and group.
type UsageTotal struct {
	Consumer string
	// Period is the start of the day or hour (UTC) when grouped by time,
	// zero otherwise.
	Period time.Time
	// Route is set when grouped by route.
	Route string
	// Model is set when grouped by model.
	Model string
	UsageCounts
}
