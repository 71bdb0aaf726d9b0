-- Shared (read) locks (issue 15). A lock's row is either one exclusive
-- lease (the columns as before) or, with mode 'shared', its readers in
-- `holders`; its columns then describe the whole: fencing_token the latest
-- reader's, expires_at the last live reader's ('-infinity' when none), and
-- token_hash matches no token (every reader has its own in `holders`). So
-- the exclusive statements, which take a row only when expires_at has
-- passed, exclude readers without knowing of them.
ALTER TABLE locks
    ADD COLUMN mode text NOT NULL DEFAULT 'exclusive' CHECK (mode IN ('exclusive', 'shared')),
    ADD COLUMN holders lease_holder[];

-- One queue across modes: a reader yields to the writers queued before it.
ALTER TABLE lock_waiters
    ADD COLUMN mode text NOT NULL DEFAULT 'exclusive' CHECK (mode IN ('exclusive', 'shared'));

ALTER TABLE lock_events
    ADD COLUMN mode text NOT NULL DEFAULT 'exclusive' CHECK (mode IN ('exclusive', 'shared'));
