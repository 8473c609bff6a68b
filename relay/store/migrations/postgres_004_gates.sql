-- relay schema, version 4: deploy gates (docs/gates.md). Why a deployment exists (`kind`),
-- rollback links both ways, the reason of a manual override of a hold, the statuses `held`
-- and `waiting_checks`; pauses by hand and quarantined commits.
ALTER TABLE deployments ADD COLUMN kind TEXT NOT NULL DEFAULT 'push';
ALTER TABLE deployments ADD COLUMN rollback_of BIGINT;
ALTER TABLE deployments ADD COLUMN rolled_back_by BIGINT;
ALTER TABLE deployments ADD COLUMN override_reason TEXT;
-- The payload's file lists were incomplete: the worker asks the host's compare API first.
ALTER TABLE deployments ADD COLUMN needs_compare BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE deployments SET kind = CASE WHEN NOT manual THEN 'push'
    WHEN delivery_id IS NULL THEN 'manual' ELSE 'redelivery' END;
CREATE INDEX deployments_by_kind ON deployments (kind, id);
ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
    'queued', 'triggering', 'rolling_out', 'succeeded', 'failed', 'timed_out', 'superseded',
    'skipped', 'error', 'canceled', 'held', 'waiting_checks'));
-- A pause by hand (or after a failed rollback): one per cluster; `until` NULL: until resumed.
CREATE TABLE cluster_pauses (
    cluster   BIGINT PRIMARY KEY,
    reason    TEXT NOT NULL,
    until     TIMESTAMPTZ,
    paused_at TIMESTAMPTZ NOT NULL
);
-- A commit that failed on a cluster: automatic deployments of it are skipped.
CREATE TABLE quarantine (
    cluster       BIGINT NOT NULL,
    version       TEXT NOT NULL,
    deployment_id BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cluster, version)
);
