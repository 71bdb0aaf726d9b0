-- Administration: key rotation and last use, the append-only admin log, and
-- the support console's sessions.

-- A rotated key stays valid until expires_at (its grace period), then stops.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
-- When the key was last presented, refreshed at most once a minute.
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;

-- Who did what, when, from where. Rows are only ever added.
CREATE TABLE admin_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    -- The acting key, or NULL for the command line (bootstrap).
    key_id      text,
    account_id  bigint,
    action      text NOT NULL,
    target      text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    -- The peer address, or "cli:<user>" for the command line.
    source      text NOT NULL,
    request_id  text
);
CREATE INDEX admin_log_time ON admin_log (occurred_at);

CREATE FUNCTION admin_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER admin_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON admin_log
    FOR EACH STATEMENT EXECUTE FUNCTION admin_log_refuse_change();

-- A console session: only the SHA-256 of its id is stored. It acts as the key
-- it signed in with, for as long as that key is active.
CREATE TABLE console_sessions (
    id_hash    bytea PRIMARY KEY,
    key_id     text NOT NULL REFERENCES api_keys (id),
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
