-- relay schema, version 6 (PostgreSQL): indexes for the set-based outbox writes and for claims.
-- A final status reports the deployments it superseded: find them by an index, not a scan.
-- Partial: a new (queued) row has no superseded_by and costs this index nothing.
CREATE INDEX IF NOT EXISTS deployments_by_superseded_by ON deployments (superseded_by)
    WHERE superseded_by IS NOT NULL;
-- A claim reads the cluster's history (the newest 200 triggered deployments): through this
-- index that is 200 index entries, not every row the cluster ever queued (most are
-- superseded, never triggered, and cost this partial index nothing).
CREATE INDEX IF NOT EXISTS deployments_history
    ON deployments (cluster, triggered_at DESC, id DESC)
    WHERE triggered_at IS NOT NULL;
