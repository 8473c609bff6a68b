-- relay schema, version 3: the outbox of reports and notifications (docs/reporting.md), written
-- in the same transaction as the status change that causes each message, and the id of the
-- git host's deployment (GitHub, GitLab) so that a retry or a crash never creates a second one.
ALTER TABLE deployments ADD COLUMN host_deployment_id TEXT;
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    deployment_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    target TEXT NOT NULL,
    coalesce_key TEXT,
    payload TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION
);
CREATE INDEX outbox_deployment ON outbox (deployment_id, id);
CREATE INDEX outbox_key ON outbox (coalesce_key, id);
