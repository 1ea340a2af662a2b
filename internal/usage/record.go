package usage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/store"
)

// Record describes one finished request, as the meter counts it.
type Record struct {
	// Time is when the request finished; it picks the minute bucket. Zero
	// means the meter's clock.
	Time time.Time
	// Consumer is the authenticated consumer's ID, "" for anonymous.
	Consumer string
	// Route names the matched route. Records without one are not counted:
	// usage covers requests that reached a route.
	Route string
	// Version is the API version the request asked for ("" without
	// versioning).
	Version string
	// Status is the status sent to the client.
	Status int
	// Admitted says the request passed authentication, rate limits and
	// quota. Only admitted requests can be billable.
	Admitted bool
	// Units is what the request counts for when billable: 1, or what the
	// upstream reported in the route's units_header.
	Units int64
	// BytesIn and BytesOut are body bytes read from and written to the
	// client.
	BytesIn  int64
	BytesOut int64
	// Latency is how long the request took.
	Latency time.Duration
	// WSMessagesIn and WSMessagesOut are the data messages of a WebSocket
	// connection, from and to the client; WSDuration how long it stayed
	// upgraded.
	WSMessagesIn  int64
	WSMessagesOut int64
	WSDuration    time.Duration
	// Model is the LLM model of a route with llm ("" elsewhere);
	// InputTokens and OutputTokens what its upstream reported. Tokens
	// count for admitted requests only.
	Model        string
	InputTokens  int64
	OutputTokens int64
}

// FromExchange builds the Record of a finished request; now is when it
// finished. The record keeps no reference to x beyond its strings.
func FromExchange(x *pipeline.Exchange, now time.Time) Record {
	r := Record{
		Time:     now,
		Route:    x.RouteName,
		Version:  x.Version,
		Status:   x.Status,
		Admitted: x.Admitted,
		Units:    1,
		BytesIn:  x.BytesIn,
		BytesOut: x.BytesOut,
	}
	if x.Consumer != nil {
		r.Consumer = x.Consumer.ID
	}
	// A negative count cannot come from a valid header; the request then
	// counts as one unit, as without the header.
	if x.UnitsSet && x.Units >= 0 {
		r.Units = x.Units
	}
	if !x.Start.IsZero() {
		r.Latency = max(0, now.Sub(x.Start))
	}
	if l := x.LLM; l != nil {
		r.Model, r.InputTokens, r.OutputTokens = l.Model, l.InputTokens, l.OutputTokens
	}
	if ws := x.WebSocket; ws != nil {
		r.WSMessagesIn, r.WSMessagesOut, r.WSDuration = ws.MessagesIn, ws.MessagesOut, ws.Duration
	}
	return r
}

// Billable reports whether the request is billed: admitted and answered
// with a status below 500. Gateway rejections (401, 403, 413, 429) are
// never admitted, so never billable.
func (r *Record) Billable() bool {
	return r.Admitted && r.Status < 500
}

// add counts r into c.
func add(c *store.UsageCounts, r *Record) {
	c.Requests++
	if r.Admitted {
		c.Admitted++
	}
	if r.Billable() {
		c.Billable++
		c.Units += r.Units
	}
	if r.Status >= 400 {
		c.Errors++
	}
	c.BytesIn += r.BytesIn
	c.BytesOut += r.BytesOut
	c.LatencyMicros += r.Latency.Microseconds()
	c.WSMessagesIn += r.WSMessagesIn
	c.WSMessagesOut += r.WSMessagesOut
	c.WSMillis += r.WSDuration.Milliseconds()
	if r.Admitted {
		c.InputTokens += r.InputTokens
		c.OutputTokens += r.OutputTokens
	}
}

// Bucket is one minute of one consumer on one route, version and model, as one
// node counted it, with final totals.
type Bucket struct {
	NodeID string
	store.UsageRow
}

// ID identifies the bucket: 32 hex digits of a SHA-256 over the node id,
// the minute and the (consumer, route, version) key. The same bucket always
// has the same ID, so a receiver can drop a resent copy; totals are not
// part of it, since a final bucket never changes.
func (b *Bucket) ID() string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	field := func(s string) {
		// Length-prefixed, so no choice of strings can collide.
		h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	field(b.NodeID)
	h.Write(buf[:binary.PutVarint(buf[:], b.Bucket.Unix())])
	field(b.Consumer)
	field(b.Route)
	field(b.Version)
	if b.Model != "" {
		// Only LLM buckets hash a model, so other buckets keep their IDs.
		field(b.Model)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
