-- Consumers, their API keys, and the change feed nodes poll to invalidate
-- their caches.

CREATE TABLE consumers (
    id         TEXT PRIMARY KEY,
    plan       TEXT NOT NULL DEFAULT '',
    -- groups is a JSON array of strings: the set is small, always read
    -- whole with its consumer, and never queried by member.
    groups     TEXT NOT NULL DEFAULT '[]',
    source     TEXT NOT NULL,
    created_at {{TIMESTAMP}} NOT NULL
);

-- No ON DELETE CASCADE: deleting a consumer must record one change per key
-- so that every node drops those keys from its cache, so the store deletes
-- keys explicitly in the same transaction.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    consumer_id TEXT NOT NULL REFERENCES consumers (id),
    prefix      TEXT NOT NULL DEFAULT '',
    hash        {{BYTES}} NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    created_at  {{TIMESTAMP}} NOT NULL,
    revoked_at  {{TIMESTAMP}}
);

CREATE INDEX api_keys_consumer_id ON api_keys (consumer_id);

CREATE TABLE changes (
    seq         {{BIGSERIAL_PK}},
    kind        TEXT NOT NULL,
    consumer_id TEXT NOT NULL DEFAULT '',
    key_hash    {{BYTES}},
    at          {{TIMESTAMP}} NOT NULL
);
