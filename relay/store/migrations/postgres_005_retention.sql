-- relay schema, version 5 (PostgreSQL): retention finds old rows by time without a full scan.
CREATE INDEX IF NOT EXISTS deliveries_by_received ON deliveries (received_at);
CREATE INDEX IF NOT EXISTS deployments_by_created ON deployments (created_at);
-- Catch-up: a push and the catch_up delivery of the same head find each other (source, ref,
-- after), and one replica at a time reads the heads (a lease row).
CREATE INDEX IF NOT EXISTS deliveries_by_head ON deliveries (source, ref, after_sha);
CREATE TABLE IF NOT EXISTS reconcile_lease (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
