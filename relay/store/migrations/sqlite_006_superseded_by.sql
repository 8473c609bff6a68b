-- relay schema, version 6: an index for the set-based outbox writes.
-- A final status reports the deployments it superseded: find them by an index, not a scan.
-- Partial: a new (queued) row has no superseded_by and costs this index nothing.
CREATE INDEX IF NOT EXISTS deployments_by_superseded_by ON deployments (superseded_by)
    WHERE superseded_by IS NOT NULL;
