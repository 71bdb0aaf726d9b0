-- Fair waiting: a durable queue of waiters per lock, in arrival order (id).
-- A waiter's row lives while its server heartbeats it, and never past the
-- waiter's own deadline, so a dead replica or a vanished client cannot block
-- the queue for long.
CREATE TABLE lock_waiters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace   text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    account_id  bigint NOT NULL,
    key_id      text NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    deadline    timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX lock_waiters_lock ON lock_waiters (namespace, name, id);

-- Safe retries: one row per (API key, Idempotency-Key). `nonce` lets a
-- retried acquire re-derive the same lock token without storing it; the
-- outcome columns are filled by the statement that did the work.
CREATE TABLE idempotency_records (
    key_id          text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    nonce           bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    fencing_token   bigint,
    outcome         jsonb,
    PRIMARY KEY (key_id, idempotency_key)
);
CREATE INDEX idempotency_records_created ON idempotency_records (created_at);

-- The hash of the lease's token on its `acquired` event, so a failed renew or
-- release can say why the lease ended. Never the token itself.
ALTER TABLE lock_events ADD COLUMN token_hash bytea;
