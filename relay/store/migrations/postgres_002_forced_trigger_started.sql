-- relay schema, version 2: force pushes (never older), when a trigger attempt began
-- (a resumed `triggering` deployment waits the old attempt out), and the `canceled` status.
ALTER TABLE deployments ADD COLUMN forced BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deployments ADD COLUMN trigger_started_at TIMESTAMPTZ;
ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
    'queued', 'triggering', 'rolling_out', 'succeeded', 'failed', 'timed_out', 'superseded',
    'skipped', 'error', 'canceled'));
-- One row rewritten by the readiness probe: /readyz proves a write is committed.
CREATE TABLE write_probe (id INTEGER PRIMARY KEY, at TIMESTAMPTZ NOT NULL);
