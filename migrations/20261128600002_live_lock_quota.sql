-- A plan's `max_live_locks` (docs/accounts.md), checked inside the statements
-- that grant leases. The room left is counted after taking a lock on the
-- account that is held until commit: a VOLATILE function's query takes a
-- fresh snapshot, so it sees every grant that committed before the lock was
-- granted, and concurrent grants of one account cannot overshoot. Callers
-- take it before any lock row's lock, accounts in ascending order, so two
-- granting statements never wait on each other in a cycle.
--
-- Live leases: exclusive ones (lock-set members included) and each reader's
-- lease of a shared lock, in the namespaces the account can use.
CREATE FUNCTION lease_quota_room(account bigint, max_live integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE COST 10000 AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('leasehold.live_lock_quota'), (account % 2147483647)::integer);
    RETURN max_live - (
        SELECT count(*) FROM locks
        WHERE account_id = account AND mode = 'exclusive' AND expires_at > now()
          AND namespace IN (SELECT name FROM namespaces WHERE account_id = account OR account_id IS NULL)
    ) - (
        SELECT count(*) FROM locks l, unnest(l.holders) h
        WHERE l.mode = 'shared' AND l.expires_at > now() AND h.expires_at > now() AND h.account_id = account
          AND l.namespace IN (SELECT name FROM namespaces WHERE account_id = account OR account_id IS NULL)
    );
END
$$;
