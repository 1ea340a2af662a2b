-- The usage ledger, and the quota counters of gateways that count in memory.

-- One row per gateway process (node_id), minute and (consumer, route,
-- version): that node's running totals for the minute, written as absolute
-- values. A retried write therefore sets the same numbers again instead of
-- adding them twice, and nodes never write each other's rows; reports sum
-- across nodes. bucket is the minute's start in Unix seconds (UTC), so both
-- databases group it by hour and day with the same integer arithmetic.
CREATE TABLE usage_buckets (
    node_id         TEXT NOT NULL,
    bucket          BIGINT NOT NULL,
    consumer        TEXT NOT NULL,
    route           TEXT NOT NULL,
    version         TEXT NOT NULL,
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
    PRIMARY KEY (node_id, bucket, consumer, route, version)
);

-- Reports and invoices read one consumer's time range; retention deletes
-- by time alone.
CREATE INDEX usage_buckets_consumer_bucket ON usage_buckets (consumer, bucket);
CREATE INDEX usage_buckets_bucket ON usage_buckets (bucket);

CREATE TABLE quota_counts (
    key        TEXT PRIMARY KEY,
    period_end {{TIMESTAMP}} NOT NULL,
    count      BIGINT NOT NULL
);
