-- relay schema, version 4: deploy gates (docs/gates.md). Why a deployment exists (`kind`),
-- rollback links both ways, the reason of a manual override of a hold; pauses by hand and
-- quarantined commits. The statuses `held` and `waiting_checks` need no schema change here.
ALTER TABLE deployments ADD COLUMN kind TEXT NOT NULL DEFAULT 'push';
ALTER TABLE deployments ADD COLUMN rollback_of INTEGER;
ALTER TABLE deployments ADD COLUMN rolled_back_by INTEGER;
ALTER TABLE deployments ADD COLUMN override_reason TEXT;
-- The payload's file lists were incomplete: the worker asks the host's compare API first.
ALTER TABLE deployments ADD COLUMN needs_compare INTEGER NOT NULL DEFAULT 0;
UPDATE deployments SET kind = CASE WHEN manual = 0 THEN 'push'
    WHEN delivery_id IS NULL THEN 'manual' ELSE 'redelivery' END;
CREATE INDEX deployments_by_kind ON deployments (kind, id);
-- A pause by hand (or after a failed rollback): one per cluster; `until` NULL: until resumed.
CREATE TABLE cluster_pauses (
    cluster   INTEGER PRIMARY KEY,
    reason    TEXT NOT NULL,
    until     TEXT,
    paused_at TEXT NOT NULL
);
-- A commit that failed on a cluster: automatic deployments of it are skipped.
CREATE TABLE quarantine (
    cluster       INTEGER NOT NULL,
    version       TEXT NOT NULL,
    deployment_id INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (cluster, version)
);
