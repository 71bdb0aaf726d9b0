-- One global sequence: a lock's next fencing token is larger than any it ever
-- had, even after its row was deleted by a release or a sweep.
CREATE SEQUENCE fencing_tokens AS bigint;

-- One row per lease. A row whose expires_at has passed is free: every
-- statement compares expires_at with the database clock, whether or not the
-- sweeper has deleted the row yet. There is no foreign key to namespaces: its
-- KEY SHARE lock would make every acquire in a namespace contend on one row.
CREATE TABLE locks (
    namespace     text COLLATE "C" NOT NULL,
    name          text COLLATE "C" NOT NULL,
    token_hash    bytea NOT NULL,
    fencing_token bigint NOT NULL,
    account_id    bigint NOT NULL,
    key_id        text NOT NULL,
    owner         text,
    metadata      jsonb,
    ttl_seconds   integer NOT NULL CHECK (ttl_seconds > 0),
    acquired_at   timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (namespace, name)
) WITH (fillfactor = 80);

CREATE INDEX locks_expires_at ON locks (expires_at);
CREATE INDEX locks_account ON locks (namespace, account_id, name);

-- The audit trail: one row per acquisition, renewal, release and expiry,
-- written by the same statement that changes the lock.
CREATE TABLE lock_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    event         text NOT NULL CHECK (event IN ('acquired', 'renewed', 'released', 'expired')),
    namespace     text COLLATE "C" NOT NULL,
    name          text COLLATE "C" NOT NULL,
    fencing_token bigint NOT NULL,
    account_id    bigint NOT NULL,
    key_id        text NOT NULL,
    owner         text,
    expires_at    timestamptz NOT NULL,
    request_id    text
);

CREATE INDEX lock_events_lock_time ON lock_events (namespace, name, occurred_at);
CREATE INDEX lock_events_account_time ON lock_events (account_id, occurred_at);
