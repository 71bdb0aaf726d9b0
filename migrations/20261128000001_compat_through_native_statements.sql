-- The compatibility APIs now use the native lock statements, which write the
-- compat_* columns on every grant (NULL for a native one). So the columns
-- always describe the row's current lease, and compat_fencing_token, which
-- told a current description from a stale one, is no longer needed. Stale
-- descriptions left by earlier native takeovers are cleared first.
UPDATE locks
SET compat_api = NULL, compat_secret_hash = NULL, compat_id = NULL
WHERE compat_api IS NOT NULL AND compat_fencing_token IS DISTINCT FROM fencing_token;

ALTER TABLE locks DROP COLUMN compat_fencing_token;
