-- relay schema, version 1: deliveries and the deployments they cause.
CREATE TABLE deliveries (
    delivery_id    TEXT PRIMARY KEY,
    source         TEXT NOT NULL,
    delivery_key   TEXT NOT NULL,
    event          TEXT NOT NULL,
    event_name     TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    headers        TEXT NOT NULL,
    body           BLOB NOT NULL,
    repo           TEXT,
    ref            TEXT,
    before_sha     TEXT,
    after_sha      TEXT,
    commit_sha     TEXT,
    head_commit_at TEXT,
    ignored        TEXT,
    UNIQUE (source, delivery_key)
);

CREATE TABLE deployments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster          INTEGER NOT NULL,
    action           TEXT NOT NULL,
    version          TEXT NOT NULL,
    source           TEXT,
    repo             TEXT,
    ref              TEXT,
    delivery_id      TEXT REFERENCES deliveries (delivery_id),
    route_index      INTEGER,
    manual           INTEGER NOT NULL DEFAULT 0,
    before_sha       TEXT,
    head_commit_at   TEXT,
    status           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    triggered_at     TEXT,
    finished_at      TEXT,
    error            TEXT,
    superseded_by    INTEGER,
    snapshot         TEXT,
    progress         TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at REAL,
    fence            INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX deployments_by_cluster ON deployments (cluster, status, id);
CREATE INDEX deployments_by_status ON deployments (status, id);
CREATE INDEX deployments_by_delivery ON deployments (delivery_id);
