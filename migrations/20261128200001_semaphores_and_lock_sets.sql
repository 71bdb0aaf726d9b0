-- Semaphores and lock sets (issue 15).

-- A holder of a semaphore's permit.
CREATE TYPE lease_holder AS (
    token_hash    bytea,
    fencing_token bigint,
    account_id    bigint,
    key_id        text,
    owner         text,
    metadata      jsonb,
    ttl_seconds   integer,
    acquired_at   timestamptz,
    expires_at    timestamptz
);

-- One row per semaphore, its holders inside it: every acquire locks the row
-- and counts the holders of that locked version, never of a snapshot that a
-- concurrent grant may have outdated, so no race admits a holder beyond the
-- limit. Lapsed holders stay in the array until a statement that changes the
-- row (or the sweeper) records their expiry and drops them.
CREATE TABLE semaphores (
    namespace  text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    permits    integer NOT NULL CHECK (permits BETWEEN 1 AND 10000),
    holders    lease_holder[] NOT NULL,
    -- When its last live holder's lease ends ('-infinity' when none is left).
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, name)
) WITH (fillfactor = 80);

-- A lock set: locks granted together, all or none, under one lock token.
-- Its members are ordinary rows of `locks` carrying the set's token hash.
CREATE TABLE lock_sets (
    set_id     uuid PRIMARY KEY,
    namespace  text COLLATE "C" NOT NULL,
    names      text[] COLLATE "C" NOT NULL,
    token_hash bytea NOT NULL,
    account_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX lock_sets_token ON lock_sets (token_hash);

-- What an audit row is about: a lock (perhaps as a set's member) or a
-- semaphore's permit.
ALTER TABLE lock_events
    ADD COLUMN kind text NOT NULL DEFAULT 'lock' CHECK (kind IN ('lock', 'semaphore')),
    ADD COLUMN set_id uuid;

-- Aborts a statement that lost a race after changing rows, so that none of
-- its changes stay (a lock set granted in part); the server runs it again.
CREATE FUNCTION leasehold_lost_race() RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'a concurrent change overtook this statement' USING ERRCODE = 'LH001';
END
$$;
