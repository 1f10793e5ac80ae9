-- Times are unix milliseconds (UTC); NULL means unknown/never.

CREATE TABLE integrations (
    name            TEXT PRIMARY KEY,
    cursor_modified INTEGER,                     -- AQL "modified" of the newest item processed
    cursor_seen     TEXT    NOT NULL DEFAULT '[]', -- JSON array of item ids at cursor_modified (same-ms dedupe)
    first_started   INTEGER,                     -- first engine start for this integration (Scout semantics)
    updated_at      INTEGER NOT NULL
);

CREATE TABLE tags (
    integration TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    image       TEXT    NOT NULL,
    tag         TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    media_type  TEXT    NOT NULL DEFAULT '',
    reference   TEXT    NOT NULL DEFAULT '',
    modified    INTEGER,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (integration, repository, image, tag)
);
CREATE INDEX tags_digest ON tags (digest);
CREATE INDEX tags_repository ON tags (repository, image);

CREATE TABLE analyses (
    digest        TEXT PRIMARY KEY,
    media_type    TEXT    NOT NULL DEFAULT '',
    parent        TEXT    NOT NULL DEFAULT '',   -- index digest for a platform manifest
    platform      TEXT    NOT NULL DEFAULT '',   -- os/arch[/variant]
    reference     TEXT    NOT NULL DEFAULT '',   -- where to pull it from
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'done', 'skipped', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL DEFAULT 0,
    error         TEXT    NOT NULL DEFAULT '',
    reason        TEXT    NOT NULL DEFAULT '',
    package_count INTEGER NOT NULL DEFAULT 0,
    analyzed_at   INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX analyses_due ON analyses (status, next_attempt);
CREATE INDEX analyses_parent ON analyses (parent) WHERE parent != '';

-- The result of an analysis, kept so that a delivery interrupted by a crash can be
-- retried without analysing again.
CREATE TABLE results (
    digest     TEXT PRIMARY KEY REFERENCES analyses (digest) ON DELETE CASCADE,
    metadata   BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE result_sboms (
    digest TEXT NOT NULL REFERENCES results (digest) ON DELETE CASCADE,
    format TEXT NOT NULL,
    body   BLOB NOT NULL,
    PRIMARY KEY (digest, format)
);

CREATE TABLE deliveries (
    output       TEXT    NOT NULL,
    digest       TEXT    NOT NULL REFERENCES analyses (digest) ON DELETE CASCADE,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT '',
    delivered_at INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (output, digest)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt);
