-- A plan's `max_live_locks` (docs/accounts.md#quotas), checked inside the
-- statements that grant leases.
--
-- Each account has a bound: a number never below its live leases. A grant
-- adds to it; a release or an expiry leaves it (it stays a bound), so no
-- statement but a grant writes it. While the bound leaves room, a grant needs
-- no count; when it does not, the live leases are counted and the bound is
-- reset to that count. The count is a scan of the account's leases, made
-- once every (max - live) grants, not once a grant.
CREATE TABLE live_lock_bounds (
    account_id bigint PRIMARY KEY,
    bound      bigint NOT NULL
);

-- The account's room for `wanted` new leases: max_live minus its bound, the
-- bound first counted afresh if it leaves less than `wanted`. The bound grows
-- by what the caller may grant (at most `wanted`, at most the room), and the
-- caller grants no more. It runs under a transaction-scoped advisory lock on
-- the account, held until commit, and its queries, being a VOLATILE
-- function's, see every grant committed before that lock was granted: grants
-- of one account are serialized, so concurrent ones cannot overshoot. Callers
-- call it before they lock any lock row, accounts in ascending order, so two
-- granting statements never wait on each other in a cycle.
--
-- Live leases: exclusive ones (lock-set members included) and each reader's
-- lease of a shared lock, in the namespaces the account can use.
CREATE FUNCTION lease_quota_room(account bigint, max_live integer, wanted bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE COST 10000 AS $$
DECLARE
    held bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('leasehold.live_lock_quota'), (account % 2147483647)::integer);
    SELECT bound INTO held FROM live_lock_bounds WHERE account_id = account;
    IF held IS NULL OR held + wanted > max_live THEN
        held := (
            SELECT count(*) FROM locks
            WHERE account_id = account AND mode = 'exclusive' AND expires_at > now()
              AND namespace IN (SELECT name FROM namespaces WHERE account_id = account OR account_id IS NULL)
        ) + (
            SELECT count(*) FROM locks l, unnest(l.holders) h
            WHERE l.mode = 'shared' AND l.expires_at > now() AND h.expires_at > now() AND h.account_id = account
              AND l.namespace IN (SELECT name FROM namespaces WHERE account_id = account OR account_id IS NULL)
        );
    END IF;
    INSERT INTO live_lock_bounds (account_id, bound)
    VALUES (account, held + least(wanted, greatest(max_live - held, 0)))
    ON CONFLICT (account_id) DO UPDATE SET bound = EXCLUDED.bound;
    RETURN max_live - held;
END
$$;
