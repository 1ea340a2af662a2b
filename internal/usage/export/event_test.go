package export

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEventJSON(t *testing.T) {
	start := time.Date(2026, 11, 3, 12, 4, 0, 0, time.FixedZone("CET", 3600))
	ev := NewEvent(Bucket{
		ID: "b3f1c2", Node: "gw-1", Consumer: "acme", Route: "orders", Version: "v2", Model: "gpt-4.1",
		Start: start, End: start.Add(time.Minute),
		Counts: Counts{Requests: 120, Admitted: 119, Billable: 118, Units: 236, Errors: 2, BytesIn: 512, BytesOut: 53100,
			WSMessagesIn: 7, WSMessagesOut: 9, WSSeconds: 12.5, InputTokens: 4100, OutputTokens: 977},
	})
	got, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"b3f1c2","source":"gantry/gw-1","type":"gantry.request.usage",` +
		`"subject":"acme","time":"2026-11-03T11:04:00Z","datacontenttype":"application/json",` +
		`"data":{"route":"orders","version":"v2","model":"gpt-4.1","requests":120,"admitted":119,"billable":118,"units":236,"errors":2,` +
		`"bytes_in":512,"bytes_out":53100,"ws_messages_in":7,"ws_messages_out":9,"ws_seconds":12.5,` +
		`"input_tokens":4100,"output_tokens":977,"bucket_start":"2026-11-03T11:04:00Z","bucket_end":"2026-11-03T11:05:00Z"}}`
	if string(got) != want {
		t.Errorf("json.Marshal(event) =\n%s\nwant\n%s", got, want)
	}

	var back Event
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("json.Unmarshal() error = %v", err)
	}
	if diff := cmp.Diff(ev, back); diff != "" {
		t.Errorf("round trip (-sent +decoded):\n%s", diff)
	}
}

func TestEventUnmarshalRejects(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "old spec version", in: `{"specversion":"0.3","id":"a","source":"s","type":"t"}`, want: "specversion"},
		{name: "bad time", in: `{"specversion":"1.0","id":"a","source":"s","type":"t","time":"yesterday"}`, want: "time"},
		{name: "not an object", in: `[1]`, want: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			err := json.Unmarshal([]byte(tt.in), &ev)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Unmarshal(%s) error = %v, want one mentioning %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestNewEvent(t *testing.T) {
	start := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	base := Bucket{Node: "gw-1", Consumer: "acme", Route: "orders", Version: "v1", Start: start, End: start.Add(time.Minute)}
	tests := []struct {
		name        string
		b           Bucket
		wantSubject string
		wantSource  string
		sameIDAs    *Bucket // nil: the id must differ from base's
	}{
		{name: "same key, other totals", b: with(base, func(b *Bucket) { b.Requests = 9 }), wantSubject: "acme", wantSource: "gantry/gw-1", sameIDAs: &base},
		{name: "anonymous", b: with(base, func(b *Bucket) { b.Consumer = "" }), wantSubject: anonymousSubject, wantSource: "gantry/gw-1"},
		{name: "other node", b: with(base, func(b *Bucket) { b.Node = "gw-2" }), wantSubject: "acme", wantSource: "gantry/gw-2"},
		{name: "other minute", b: with(base, func(b *Bucket) { b.Start = start.Add(time.Minute) }), wantSubject: "acme", wantSource: "gantry/gw-1"},
		{name: "other route", b: with(base, func(b *Bucket) { b.Route = "users" }), wantSubject: "acme", wantSource: "gantry/gw-1"},
		{name: "other version", b: with(base, func(b *Bucket) { b.Version = "v2" }), wantSubject: "acme", wantSource: "gantry/gw-1"},
		{name: "parts shifted", b: with(base, func(b *Bucket) { b.Consumer, b.Route = "acmeo", "rders" }), wantSubject: "acmeo", wantSource: "gantry/gw-1"},
	}
	baseID := NewEvent(base).ID
	if len(baseID) != 32 {
		t.Fatalf("derived id %q has %d hex digits, want 32", baseID, len(baseID))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := NewEvent(tt.b)
			if ev.Subject != tt.wantSubject || ev.Source != tt.wantSource || ev.Type != eventType {
				t.Errorf("NewEvent() subject, source, type = %q, %q, %q; want %q, %q, %q",
					ev.Subject, ev.Source, ev.Type, tt.wantSubject, tt.wantSource, eventType)
			}
			if got := ev.ID == baseID; got != (tt.sameIDAs != nil) {
				t.Errorf("NewEvent().ID = %s, base id %s: equal = %v, want %v", ev.ID, baseID, got, tt.sameIDAs != nil)
			}
			if !ev.Time.Equal(tt.b.Start) {
				t.Errorf("NewEvent().Time = %v, want the bucket start %v", ev.Time, tt.b.Start)
			}
			if err := ev.validate(); err != nil {
				t.Errorf("validate() = %v", err)
			}
		})
	}

	if got := NewEvent(with(base, func(b *Bucket) { b.ID = "meter-id" })).ID; got != "meter-id" {
		t.Errorf("NewEvent() with the meter's id = %q, want it kept", got)
	}
}

func TestBucketIDStable(t *testing.T) {
	// Ids already sent must never change meaning: a receiver deduplicates
	// across versions of Gantry. The meter's Bucket.ID gives the same value.
	start := time.Date(2026, 11, 3, 12, 4, 0, 0, time.UTC)
	if got, want := bucketID("gw-1-7f3a", start, "acme", "orders", "v2", ""), "c811de4a715b83a8d87eb190e32e307e"; got != want {
		t.Errorf("BucketID() = %s, want %s", got, want)
	}
}

func with(b Bucket, f func(*Bucket)) Bucket {
	f(&b)
	return b
}
