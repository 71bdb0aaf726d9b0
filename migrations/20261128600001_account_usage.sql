-- Usage per account and UTC day (docs/accounts.md). The lock statements keep
-- no counter: a rollup task counts the audit trail into these rows behind a
-- watermark, and adds what the trail does not hold (conflicts, waits) from
-- each replica's memory. Peak live locks is sampled as the rollup runs.
CREATE TABLE account_usage (
    account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day             date NOT NULL,
    acquired        bigint NOT NULL DEFAULT 0,
    renewed         bigint NOT NULL DEFAULT 0,
    released        bigint NOT NULL DEFAULT 0,
    expired         bigint NOT NULL DEFAULT 0,
    force_released  bigint NOT NULL DEFAULT 0,
    conflicts       bigint NOT NULL DEFAULT 0,
    waits           bigint NOT NULL DEFAULT 0,
    peak_live_locks bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day)
);

-- Audit events that occurred before `counted_until` are in account_usage.
-- One row; the replica that holds it (FOR UPDATE SKIP LOCKED) rolls up.
CREATE TABLE usage_rollup (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    counted_until timestamptz NOT NULL
);
-- The rollup reads the trail by time alone, and no index of it leads with
-- occurred_at. The trail is appended to in time order, so a BRIN index keeps
-- a pass to the pages of its window for a few pages of index.
CREATE INDEX lock_events_time_brin ON lock_events USING brin (occurred_at) WITH (autosummarize = on);

-- The trail already kept is counted too, from its first event.
INSERT INTO usage_rollup (counted_until)
SELECT coalesce(min(occurred_at), now()) FROM lock_events;
