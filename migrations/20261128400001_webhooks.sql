-- Webhooks: a business account's endpoints, each following the audit trail
-- with a durable cursor, and the log of every delivery attempt.
CREATE TABLE webhooks (
    id               uuid PRIMARY KEY,
    account_id       bigint NOT NULL REFERENCES accounts (id),
    url              text NOT NULL,
    events           text[] NOT NULL CHECK (cardinality(events) > 0),
    -- NULL: every namespace of the account (and its own events in public).
    namespace        text COLLATE "C",
    -- The signing secret the customer received: kept to sign, never returned again.
    secret           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    -- The position (occurred_at, id) in lock_events of the last event
    -- delivered or given up on; events after it are still to deliver.
    cursor_at        timestamptz NOT NULL DEFAULT now(),
    cursor_id        bigint NOT NULL DEFAULT 0,
    -- When a replica may next claim it: after a backoff, or once a claim's lease ends.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Failed attempts at the event after the cursor, and when the first began.
    attempts         integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz
);

CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE deleted_at IS NULL;
CREATE INDEX webhooks_account ON webhooks (account_id, created_at) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id   uuid NOT NULL REFERENCES webhooks (id),
    event_id     bigint NOT NULL,
    attempt      integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    duration_ms  integer NOT NULL,
    -- The receiver's HTTP status, or why there was none.
    status_code  integer,
    error        text,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'given_up'))
);

CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);
