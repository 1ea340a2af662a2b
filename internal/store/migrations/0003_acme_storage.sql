-- Certificates, keys and the ACME account that server.tls.acme keeps in
-- the storage backend, so every node serves the same certificates.

-- One row per certmagic key ("certificates/ca/name/name.crt"): a file in
-- certmagic's terms. Directories are not stored; they are the prefixes
-- of keys.
CREATE TABLE acme_storage (
    key      TEXT PRIMARY KEY,
    value    {{BYTES}} NOT NULL,
    modified {{TIMESTAMP}} NOT NULL
);

-- certmagic's locks across nodes: a row is a held lock, owner the holder's
-- random token, expires (Unix milliseconds) the end of its lease, which the
-- holder keeps extending. A lock past its lease was left by a node that
-- died and may be taken over.
CREATE TABLE acme_locks (
    name    TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    expires BIGINT NOT NULL
);
