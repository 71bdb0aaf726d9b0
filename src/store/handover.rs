//! Handover: the holder ends its lease and grants the next in one statement,
//! so no other acquirer can get in between. mutex.uno's replacement of a
//! live mutex (`If-Match`) is a handover too, proved by the mutex's id.

use sqlx::PgPool;

use super::fragments::{complete_and_wake, live_items, notify_waiters, proof_holds, record_events};
use super::locks::batch::{bind_changes, by_index, change_items, ChangeItem};
use super::locks::end::{bind_shared, bound, LeaseChange};
use super::statement::Variants;
use super::StoreError;
use crate::domain::{CompatHolder, Lock, LockTokenHash, Owner, Ttl};

/// The lease that follows.
pub struct Next<'a> {
    pub token: &'a LockTokenHash,
    pub owner: Option<&'a Owner>,
    /// `None` keeps the lease's length.
    pub ttl: Option<Ttl>,
    pub compat: Option<CompatHolder>,
}

/// The lease's row is updated in place: a new token, a new fencing token from
/// the sequence (taken under the row lock, so higher than any before), and
/// `released` then `acquired` in the audit trail. Waiters are woken so they
/// reschedule for the new lease's expiry.
pub const HANDOVER: &str = concat!(
    r#"
WITH old AS (
    SELECT fencing_token, owner, expires_at FROM locks
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
      AND "#,
    proof_holds!(),
    r#"
),
handed AS (
    UPDATE locks
    SET token_hash = $13, fencing_token = nextval('fencing_tokens'), account_id = $8, key_id = $9,
        owner = $14, ttl_seconds = coalesce($15, locks.ttl_seconds), acquired_at = now(),
        expires_at = now() + coalesce($15, locks.ttl_seconds) * interval '1 second',
        compat_api = $16, compat_secret_hash = $17, compat_id = $18
    FROM old
    WHERE locks.namespace = $1 AND locks.name = $2
      AND locks.fencing_token = old.fencing_token AND locks.expires_at > now()
    RETURNING locks.*, old.fencing_token AS old_fencing, old.owner AS old_owner,
              old.expires_at AS old_expires_at
),
recorded AS (
    "#,
    record_events!(),
    r#"
    SELECT now(), 'released', $1, $2, old_fencing, $8, $9, old_owner, old_expires_at, $10, NULL,
           $11::inet, NULL
    FROM handed
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, $8, $9, owner, expires_at, $10, $13,
           $11::inet, NULL
    FROM handed
),
completed AS (
    UPDATE idempotency_records i
    SET completed_at = now(), fencing_token = h.fencing_token
    FROM handed h
    WHERE i.key_id = $9 AND i.idempotency_key = $12
),
woken AS (
    SELECT "#,
    notify_waiters!("$1", "$2"),
    r#"
    FROM handed
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now())
)
SELECT namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, acquired_at,
       expires_at, compat_api, compat_id
FROM handed
WHERE (SELECT count(*) FROM woken) >= 0
"#
);

/// HANDOVER as sent: the shared optional parameters, then the next lease's
/// compatibility holder ($16-$18).
static HANDOVER_SENT: Variants = Variants::new(
    HANDOVER,
    &[
        (3, "bytea"),
        (4, "text"),
        (5, "bigint"),
        (6, "bytea"),
        (7, "uuid"),
        (11, "text"),
        (12, "text"),
        (16, "text"),
        (17, "bytea"),
        (18, "uuid"),
    ],
);

fn handover_statement(change: &LeaseChange<'_>, next: &Next<'_>) -> &'static str {
    let compat = next.compat.as_ref();
    let [a, b, c, d, e, f, g] = bound(change);
    HANDOVER_SENT.text(&[
        a,
        b,
        c,
        d,
        e,
        f,
        g,
        compat.is_some(),
        compat.is_some_and(|c| c.secret_hash.is_some()),
        compat.is_some_and(|c| c.mutex_id.is_some()),
    ])
}

/// Ends the live lease `change.proof` holds and grants `next`; `None` when
/// the proof holds no live lease.
#[tracing::instrument(level = "debug", skip_all, fields(namespace = %change.namespace, name = %change.name))]
pub async fn hand_over(
    pool: &PgPool,
    change: &LeaseChange<'_>,
    next: &Next<'_>,
) -> Result<Option<Lock>, StoreError> {
    let compat = next.compat.as_ref();
    let row = bind_shared(sqlx::query_as(handover_statement(change, next)), change)
        .bind(&next.token.0[..])
        .bind(next.owner.map(Owner::as_str))
        .bind(next.ttl.map(|t| t.seconds() as i32))
        .bind(compat.and_then(|c| c.api.column()))
        .bind(compat.and_then(|c| c.secret_hash.as_ref()).map(|h| &h[..]))
        .bind(compat.and_then(|c| c.mutex_id))
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Lock::from))
}

/// One handover of a set (group commit): a native lease's, proved by its
/// lock token, owned so that it can wait in a queue for the next statement.
#[derive(Clone)]
pub struct HandoverItem {
    /// The lease that ends, and the next lease's length (`None` keeps it).
    pub change: ChangeItem,
    pub token: LockTokenHash,
    pub owner: Option<Owner>,
}

impl HandoverItem {
    /// `None` unless the change is proved by a lock token and the next lease
    /// is a native one: the set statement serves the native API's handovers.
    pub fn new(change: &LeaseChange<'_>, next: &Next<'_>) -> Option<Self> {
        if next.compat.is_some() {
            return None;
        }
        Some(Self {
            change: ChangeItem::new(change, next.ttl)?,
            token: next.token.clone(),
            owner: next.owner.cloned(),
        })
    }

    pub fn next(&self) -> Next<'_> {
        Next { token: &self.token, owner: self.owner.as_ref(), ttl: self.change.ttl, compat: None }
    }
}

/// A set's HANDOVER, each item proved by its lock token ($4) and granting a
/// native lease: its new token ($11), owner ($12) and length ($5).
pub const HANDOVER_MANY: &str = concat!(
    change_items!(", $11::bytea[], $12::text[]", ", next_token_hash, next_owner"),
    live_items!(),
    r#"
handed AS (
    UPDATE locks
    SET token_hash = i.next_token_hash, fencing_token = nextval('fencing_tokens'),
        account_id = i.account_id, key_id = i.key_id, owner = i.next_owner,
        ttl_seconds = coalesce(i.ttl_seconds, locks.ttl_seconds), acquired_at = now(),
        expires_at = now() + coalesce(i.ttl_seconds, locks.ttl_seconds) * interval '1 second',
        compat_api = NULL, compat_secret_hash = NULL, compat_id = NULL
    FROM live v JOIN items i ON i.idx = v.idx
    WHERE locks.namespace = i.namespace AND locks.name = i.name
      AND locks.fencing_token = v.fencing_token AND locks.expires_at > now()
    RETURNING i.idx, locks.namespace, locks.name, locks.fencing_token, locks.account_id,
              locks.owner, locks.metadata, locks.ttl_seconds, locks.acquired_at, locks.expires_at,
              locks.compat_api, locks.compat_id, v.fencing_token AS old_fencing,
              v.owner AS old_owner, v.expires_at AS old_expires_at
),
recorded AS (
    "#,
    record_events!(),
    r#"
    SELECT now(), 'released', h.namespace, h.name, h.old_fencing, i.account_id, i.key_id,
           h.old_owner, h.old_expires_at, i.request_id, NULL, i.client_addr::inet, NULL
    FROM handed h JOIN items i ON i.idx = h.idx
    UNION ALL
    SELECT now(), 'acquired', h.namespace, h.name, h.fencing_token, i.account_id, i.key_id,
           h.owner, h.expires_at, i.request_id, i.next_token_hash, i.client_addr::inet, NULL
    FROM handed h JOIN items i ON i.idx = h.idx
),"#,
    complete_and_wake!("handed")
);

/// Runs a set of handovers in one statement: each item's next lease, in
/// order; `None` where the token held no live lease.
#[tracing::instrument(level = "debug", skip_all, fields(size = items.len()))]
pub async fn hand_over_many(pool: &PgPool, items: &[&HandoverItem]) -> Result<Vec<Option<Lock>>, StoreError> {
    let changes: Vec<&ChangeItem> = items.iter().map(|i| &i.change).collect();
    let rows = bind_changes(sqlx::query_as(HANDOVER_MANY), &changes)
        .bind(items.iter().map(|i| &i.token.0[..]).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.owner.as_ref().map(Owner::as_str)).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok(by_index(rows, items.len()))
}
