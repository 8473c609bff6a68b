-- relay schema, version 6: the hot tables' indexes, reviewed for set-based writes.
-- A final status reports the deployments it superseded: find them by an index, not a scan.
-- Partial: a new (queued) row has no superseded_by and costs this index nothing.
CREATE INDEX IF NOT EXISTS deployments_by_superseded_by ON deployments (superseded_by)
    WHERE superseded_by IS NOT NULL;
-- Only the admin API's `kind` filter read it (newest first, LIMIT: the primary key serves);
-- every insert paid for it.
DROP INDEX IF EXISTS deployments_by_kind;
