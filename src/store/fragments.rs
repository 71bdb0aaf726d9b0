//! SQL lock statements share: the audit trail's insert, the wake-up
//! notification, the proof test, and the parts of the set statements (group
//! commit) that end leases. Macros that expand to string literals, so that
//! statements built with `concat!` stay `&'static str` constants.

/// The audit trail's insert. The SELECT that follows lists, in this order:
/// occurred_at, event, namespace, name, fencing_token, account_id, key_id,
/// owner, expires_at, request_id, token_hash, client_addr, reason.
macro_rules! record_events {
    () => {
        "INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id, \
         key_id, owner, expires_at, request_id, token_hash, client_addr, reason)"
    };
}

/// The audit trail's insert with what a row is about: the SELECT lists the
/// columns of `record_events!` and then kind ('lock', 'semaphore'), set_id
/// and mode ('exclusive', 'shared'; a semaphore's permits are shared).
macro_rules! record_kind_events {
    () => {
        "INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id, \
         key_id, owner, expires_at, request_id, token_hash, client_addr, reason, kind, set_id, mode)"
    };
}

/// The channel on which a change that may let a waiter in wakes the waiters
/// of every replica (`wake::CHANNEL`).
macro_rules! wake_channel {
    () => {
        "leasehold_wake"
    };
}

/// `pg_notify` on the wake channel for the lock named by two SQL expressions.
macro_rules! notify_waiters {
    ($namespace:literal, $name:literal) => {
        concat!(
            "pg_notify('",
            $crate::store::fragments::wake_channel!(),
            "', ",
            $namespace,
            " || '/' || ",
            $name,
            ")"
        )
    };
}

/// Whether the row in scope holds the lease a renew, release or handover
/// names (`domain::Proof`): the native API's lock token ($3), or the
/// compatibility API that took it ($4) with, where given, its account ($5),
/// secret ($6: a lease with a secret yields only to it) and mutex id ($7).
/// Unbound parameters are NULL literals in the text sent
/// (`store::statement`), so each API's plan keeps only its own test.
macro_rules! proof_holds {
    () => {
        "($3::bytea IS NULL OR token_hash = $3)
      AND ($4::text IS NULL OR (compat_api = $4
           AND ($5::bigint IS NULL OR account_id = $5)
           AND (compat_secret_hash IS NULL OR compat_secret_hash = $6)
           AND ($7::uuid IS NULL OR compat_id = $7)))"
    };
}

/// The idempotency record's outcome of a renewal: the renewed lease, as a
/// retry of it answers (`r` is the renewed row).
macro_rules! renewal_outcome {
    () => {
        "jsonb_build_object(
            'namespace', r.namespace, 'name', r.name, 'fencing_token', r.fencing_token,
            'account_id', r.account_id, 'owner', r.owner, 'metadata', r.metadata,
            'ttl_seconds', r.ttl_seconds, 'acquired_at', r.acquired_at, 'expires_at', r.expires_at)"
    };
}

/// The end of an acquire attempt by one request, as CTEs after `granted`:
/// a granted waiter leaves the queue ($waiter: its place, NULL for a
/// newcomer), the Idempotency-Key's record is completed ($key_id, $key),
/// and a waiter not granted keeps its place for $lease ms more when half
/// of it is gone.
macro_rules! settle_attempt {
    ($waiter:literal, $key_id:literal, $key:literal, $lease:literal) => {
        concat!(
            "dequeued AS (
    DELETE FROM lock_waiters WHERE id = ",
            $waiter,
            " AND EXISTS (SELECT FROM granted)
),
completed AS (
    UPDATE idempotency_records x
    SET completed_at = now(), fencing_token = g.fencing_token
    FROM granted g
    WHERE x.key_id = ",
            $key_id,
            " AND x.idempotency_key = ",
            $key,
            "
),
kept_in_queue AS (
    UPDATE lock_waiters
    SET expires_at = least(now() + ",
            $lease,
            " * interval '1 millisecond', deadline)
    WHERE id = ",
            $waiter,
            " AND NOT EXISTS (SELECT FROM granted)
      AND expires_at < now() + ",
            $lease,
            " * interval '1 millisecond' / 2
)"
        )
    };
}

/// A set statement's `live`: the live lease each item's token holds
/// (`items` has `idx`, `namespace`, `name`, `token_hash`), its row locked in
/// (namespace, name) order so that sets in flight never deadlock.
macro_rules! live_items {
    () => {
        "
live AS (
    SELECT i.idx, l.fencing_token, l.owner, l.expires_at
    FROM items i JOIN locks l ON l.namespace = i.namespace AND l.name = i.name
    WHERE l.token_hash = i.token_hash AND l.expires_at > now()
    ORDER BY l.namespace, l.name
    FOR UPDATE OF l
),"
    };
}

/// The end of a set statement that ended leases: each item's Idempotency-Key
/// record completed with the fencing token of the CTE `$ended`'s row, the
/// waiters of its locks woken where there are any, and its rows returned.
macro_rules! complete_and_wake {
    ($ended:literal) => {
        concat!(
            "
completed AS (
    UPDATE idempotency_records x
    SET completed_at = now(), fencing_token = r.fencing_token
    FROM ",
            $ended,
            " r JOIN items i ON i.idx = r.idx
    WHERE x.key_id = i.key_id AND x.idempotency_key = i.idempotency_key
),
woken AS (
    SELECT ",
            $crate::store::fragments::notify_waiters!("r.namespace", "r.name"),
            "
    FROM ",
            $ended,
            " r
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = r.namespace AND w.name = r.name AND w.expires_at > now())
)
SELECT * FROM ",
            $ended,
            " WHERE (SELECT count(*) FROM woken) >= 0
"
        )
    };
}

pub(crate) use {
    complete_and_wake, live_items, notify_waiters, proof_holds, record_events, record_kind_events,
    renewal_outcome, settle_attempt, wake_channel,
};

/// The wake channel's name, for LISTEN.
pub const WAKE_CHANNEL: &str = wake_channel!();
