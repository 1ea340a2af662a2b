-- LLM tokens in the usage ledger: a row is now per (consumer, route,
-- version, model), model '' for routes without llm, and carries the input
-- and output tokens upstreams reported. The primary key changes, which
-- SQLite cannot alter in place: the table is copied into a new one.

CREATE TABLE usage_buckets_new (
    node_id         TEXT NOT NULL,
    bucket          BIGINT NOT NULL,
    consumer        TEXT NOT NULL,
    route           TEXT NOT NULL,
    version         TEXT NOT NULL,
    model           TEXT NOT NULL DEFAULT '',
    requests        BIGINT NOT NULL DEFAULT 0,
    admitted        BIGINT NOT NULL DEFAULT 0,
    billable        BIGINT NOT NULL DEFAULT 0,
    units           BIGINT NOT NULL DEFAULT 0,
    errors          BIGINT NOT NULL DEFAULT 0,
    bytes_in        BIGINT NOT NULL DEFAULT 0,
    bytes_out       BIGINT NOT NULL DEFAULT 0,
    latency_us      BIGINT NOT NULL DEFAULT 0,
    ws_messages_in  BIGINT NOT NULL DEFAULT 0,
    ws_messages_out BIGINT NOT NULL DEFAULT 0,
    ws_ms           BIGINT NOT NULL DEFAULT 0,
    input_tokens    BIGINT NOT NULL DEFAULT 0,
    output_tokens   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, bucket, consumer, route, version, model)
);

INSERT INTO usage_buckets_new (node_id, bucket, consumer, route, version, requests, admitted, billable, units, errors,
    bytes_in, bytes_out, latency_us, ws_messages_in, ws_messages_out, ws_ms)
SELECT node_id, bucket, consumer, route, version, requests, admitted, billable, units, errors,
    bytes_in, bytes_out, latency_us, ws_messages_in, ws_messages_out, ws_ms FROM usage_buckets;

DROP TABLE usage_buckets;

ALTER TABLE usage_buckets_new RENAME TO usage_buckets;

CREATE INDEX usage_buckets_consumer_bucket ON usage_buckets (consumer, bucket);
CREATE INDEX usage_buckets_bucket ON usage_buckets (bucket);
