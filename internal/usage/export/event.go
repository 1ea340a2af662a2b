package export

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const (
	// eventType is the CloudEvents type of every usage event.
	eventType = "gantry.request.usage"
	// anonymousSubject is the subject of usage by requests without a
	// consumer. Consumer ids cannot contain parentheses, so it never
	// collides with one.
	anonymousSubject = "(anonymous)"

	specVersion     = "1.0"
	dataContentType = "application/json"
)

// Bucket is one final usage bucket as the meter hands it over: the totals
// of one (consumer, route, version) on one node for one minute. Its values
// never change once final, which is what makes a resend safe.
type Bucket struct {
	// ID is the meter's stable bucket id. When empty, NewEvent derives one
	// from Node, Start, Consumer, Route and Version.
	ID string
	// Node identifies the gateway process that counted the bucket; the
	// event's source is "gantry/<Node>".
	Node string
	// Consumer is "" for requests without one.
	Consumer string
	Route    string
	Version  string
	// Model is the LLM model of a route with llm, "" elsewhere.
	Model string
	// Start and End bound the bucket: [Start, End).
	Start, End time.Time
	Counts
}

// Counts are what a bucket counted; their JSON names are the keys billing
// meters aggregate on ("$.units", "$.billable").
type Counts struct {
	Requests      int64 `json:"requests"`
	Admitted      int64 `json:"admitted"`
	Billable      int64 `json:"billable"`
	Units         int64 `json:"units"`
	Errors        int64 `json:"errors"`
	BytesIn       int64 `json:"bytes_in"`
	BytesOut      int64 `json:"bytes_out"`
	WSMessagesIn  int64 `json:"ws_messages_in"`
	WSMessagesOut int64 `json:"ws_messages_out"`
	// WSSeconds is how long WebSocket connections that ended in the bucket
	// stayed open, in seconds.
	WSSeconds float64 `json:"ws_seconds"`
	// InputTokens and OutputTokens are the LLM tokens of the bucket's
	// admitted requests (routes with llm).
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Event is one CloudEvents 1.0 usage event. Its JSON form is the
// structured-mode encoding: specversion, id, source, type, subject, time
// (RFC 3339), datacontenttype and data.
type Event struct {
	ID      string
	Source  string
	Type    string
	Subject string
	Time    time.Time
	Data    Usage
}

// Usage is the data of an Event: what one bucket counted. Field names are
// the JSON keys billing meters aggregate on ("$.units", "$.billable").
type Usage struct {
	Route   string `json:"route"`
	Version string `json:"version"`
	// Model is the LLM model, omitted for routes without llm.
	Model string `json:"model,omitempty"`
	Counts
	BucketStart time.Time `json:"bucket_start"`
	BucketEnd   time.Time `json:"bucket_end"`
}

// NewEvent turns a final bucket into its usage event. The event's time is
// the bucket's start, so a billing system that windows by event time puts
// it in the bucket's own minute.
func NewEvent(b Bucket) Event {
	id := b.ID
	if id == "" {
		id = bucketID(b.Node, b.Start, b.Consumer, b.Route, b.Version, b.Model)
	}
	subject := b.Consumer
	if subject == "" {
		subject = anonymousSubject
	}
	return Event{
		ID:      id,
		Source:  "gantry/" + b.Node,
		Type:    eventType,
		Subject: subject,
		Time:    b.Start.UTC(),
		Data: Usage{
			Route:       b.Route,
			Version:     b.Version,
			Model:       b.Model,
			Counts:      b.Counts,
			BucketStart: b.Start.UTC(),
			BucketEnd:   b.End.UTC(),
		},
	}
}

// bucketID is the deterministic event id of a bucket: 32 hex digits of a
// SHA-256 over the node id, the minute (Unix seconds) and the consumer,
// route and version (and the model, when there is one), each string
// length-prefixed so that ("a/b", "c") and ("a", "b/c") differ. It matches
// the meter's bucket id.
func bucketID(node string, start time.Time, consumer, route, version, model string) string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	field := func(s string) {
		h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	field(node)
	h.Write(buf[:binary.PutVarint(buf[:], start.Unix())])
	field(consumer)
	field(route)
	field(version)
	if model != "" {
		field(model)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// cloudEvent is the wire form of Event.
type cloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            string    `json:"time,omitempty"`
	DataContentType string    `json:"datacontenttype"`
	Data            wireUsage `json:"data"`
}

// wireUsage is Usage with its times preformatted: encoding/json re-parses
// whatever a MarshalJSON method returns, which doubled the cost of an event.
type wireUsage struct {
	Route   string `json:"route"`
	Version string `json:"version"`
	Model   string `json:"model,omitempty"`
	Counts
	BucketStart string `json:"bucket_start"`
	BucketEnd   string `json:"bucket_end"`
}

func (e Event) wire() cloudEvent {
	ce := cloudEvent{
		SpecVersion:     specVersion,
		ID:              e.ID,
		Source:          e.Source,
		Type:            e.Type,
		Subject:         e.Subject,
		DataContentType: dataContentType,
		Data: wireUsage{
			Route:       e.Data.Route,
			Version:     e.Data.Version,
			Model:       e.Data.Model,
			Counts:      e.Data.Counts,
			BucketStart: formatTime(e.Data.BucketStart),
			BucketEnd:   formatTime(e.Data.BucketEnd),
		},
	}
	ce.Time = formatTime(e.Time)
	return ce
}

// formatTime is RFC 3339 in UTC, "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("cloudevent %s: %w", field, err)
	}
	return t, nil
}

// MarshalJSON encodes e as a structured-mode CloudEvent.
func (e Event) MarshalJSON() ([]byte, error) { return json.Marshal(e.wire()) }

// UnmarshalJSON decodes a structured-mode CloudEvent with specversion 1.0.
func (e *Event) UnmarshalJSON(b []byte) error {
	var ce cloudEvent
	if err := json.Unmarshal(b, &ce); err != nil {
		return err
	}
	if ce.SpecVersion != specVersion {
		return fmt.Errorf("cloudevent specversion %q, want %q", ce.SpecVersion, specVersion)
	}
	t, err1 := parseTime("time", ce.Time)
	start, err2 := parseTime("data.bucket_start", ce.Data.BucketStart)
	end, err3 := parseTime("data.bucket_end", ce.Data.BucketEnd)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	d := ce.Data
	*e = Event{ID: ce.ID, Source: ce.Source, Type: ce.Type, Subject: ce.Subject, Time: t, Data: Usage{
		Route: d.Route, Version: d.Version, Model: d.Model, Counts: d.Counts, BucketStart: start, BucketEnd: end,
	}}
	return nil
}

// validate reports what a receiver would refuse: CloudEvents requires id,
// source and type, and billing systems key usage on the subject.
func (e *Event) validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type}, {"subject", e.Subject},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("event %s is empty", f.name))
		}
	}
	return errors.Join(errs...)
}
