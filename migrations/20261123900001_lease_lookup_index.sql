-- Finds the lease a presented lock token once held (failed renew/release
-- diagnosis). Created after the audit table's partitioning so that it lands
-- on the final table.
CREATE INDEX IF NOT EXISTS lock_events_token_hash ON lock_events (token_hash) WHERE token_hash IS NOT NULL;
