-- Drop-in compatibility with the Lockable, Locklock and mutex.uno APIs.

-- The actor of unauthenticated Locklock and mutex.uno calls. Its name cannot
-- be an account name (those start with a letter or digit), so no customer can
-- own it, and it is disabled, so no key can ever act as it. Its events carry
-- the key id 'anonymous', which is never a real key's id (those are 16 hex
-- digits), and the caller's address in client_addr.
INSERT INTO accounts (name, plan, disabled_at) VALUES ('_anonymous', 'hobbyist', now());

-- The address an anonymous caller connected from; NULL for keyed calls.
ALTER TABLE lock_events ADD COLUMN client_addr inet;

-- How a lease taken through a compatibility API identifies its holder. They
-- describe the lease whose fencing token equals compat_fencing_token and are
-- meaningless otherwise: a native acquire or handover that replaces the lease
-- leaves them behind, stale, and they go with the row when it is released or
-- swept. The native statements never read or write them.
ALTER TABLE locks
    ADD COLUMN compat_api text CHECK (compat_api IN ('lockable', 'locklock', 'mutex_uno')),
    ADD COLUMN compat_fencing_token bigint,
    -- Locklock: the hashed secret a release must present, if one was given.
    ADD COLUMN compat_secret_hash bytea,
    -- mutex.uno: the acquisition's id, which is also its ETag.
    ADD COLUMN compat_id uuid;
