// Package export delivers final usage buckets to a billing system as
// CloudEvents 1.0, in batches to an OpenMeter-compatible ingest URL
// (POST, Content-Type application/cloudevents-batch+json).
//
// It sits beside the request path, after metering: the meter hands over
// buckets whose minute has ended and whose totals reached storage; NewEvent
// turns each into an event with a deterministic id, and Exporter.Enqueue
// makes them durable in an on-disk spool before it returns. Exporter.Run
// sends the spool oldest-first and removes events only after the receiver
// answered 2xx, so an outage of the billing system loses nothing and a
// resend (after a timeout or a restart) is deduplicated by the receiver,
// which keys on (source, id).
//
// The spool is a directory of append-only segment files of
// newline-delimited records, each "<crc32c hex> <event json>", fsynced per
// Enqueue. A crash mid-write leaves a torn last line that the reader skips;
// a new process never appends to an old segment. A small "head" file
// remembers how far delivery got; if it is lost, delivery restarts at the
// oldest segment and the receiver drops the duplicates.
//
// The spool is bounded (Options.MaxSpoolBytes): beyond it the oldest
// segments are dropped, counted and logged. A batch refused with a 4xx
// other than 408 and 429 is never retried: it is appended to
// "rejected.log" in the spool directory (same record format) and delivery
// moves on. Files named replay*.log found at open are taken into the spool
// after what is pending, so renaming rejected.log resends it.
//
// This package must not import the meter (internal/usage) or anything on
// the request path; memory stays bounded by one batch.
package export
