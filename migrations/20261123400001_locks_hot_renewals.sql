-- Renewals change only expires_at and ttl_seconds. While an index covers
-- expires_at, no renewal can be a HOT update: each one writes a new entry into
-- every index of the table and leaves dead ones behind. Without it, renewals
-- are HOT (measured: 0% -> 100% of renewals, and +43% renewals per second on
-- 10,000 held locks; see BENCHMARKS.md). The sweeper then finds lapsed leases
-- by scanning the table, which costs it about one sequential scan per
-- interval; that was measured too.
DROP INDEX IF EXISTS locks_expires_at;

-- The table is small and hot: every release and every sweep leaves dead
-- rows. Vacuum it after a fixed number of them rather than a share of a table
-- that may be nearly empty, and without cost-based pauses. Analyze often,
-- because the row count swings.
ALTER TABLE locks SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
