-- relay schema, version 2: force pushes (never older), when a trigger attempt began
-- (a resumed `triggering` deployment waits the old attempt out), and the `canceled` status.
ALTER TABLE deployments ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN trigger_started_at TEXT;
-- One row rewritten by the readiness probe: /readyz proves a write reaches the disk.
CREATE TABLE write_probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL);
