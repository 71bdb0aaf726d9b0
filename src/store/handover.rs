//! Handover: the holder ends its lease and grants the next in one statement,
//! so no other acquirer can get in between.

use sqlx::PgPool;

use super::locks::{Actor, LockRow};
use super::StoreError;
use crate::domain::{Lock, LockName, LockTokenHash, NamespaceName, Owner, Ttl};

pub struct Handover<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a LockName,
    pub current: &'a LockTokenHash,
    pub next: &'a LockTokenHash,
    pub owner: Option<&'a Owner>,
    pub ttl: Option<Ttl>,
}

/// The lease's row is updated in place: a new token, a new fencing token from
/// the sequence (taken under the row lock, so higher than any before), and
/// `released` then `acquired` in the audit trail. Waiters are woken so they
/// reschedule for the new lease's expiry.
pub const HANDOVER: &str = r#"
WITH old AS (
    SELECT fencing_token, owner, expires_at FROM locks
    WHERE namespace = $1 AND name = $2 AND token_hash = $3 AND expires_at > now()
),
handed AS (
    UPDATE locks
    SET token_hash = $4, fencing_token = nextval('fencing_tokens'), account_id = $5, key_id = $6,
        owner = $7, ttl_seconds = coalesce($8, locks.ttl_seconds), acquired_at = now(),
        expires_at = now() + coalesce($8, locks.ttl_seconds) * interval '1 second'
    FROM old
    WHERE locks.namespace = $1 AND locks.name = $2 AND locks.token_hash = $3
      AND locks.fencing_token = old.fencing_token AND locks.expires_at > now()
    RETURNING locks.*, old.fencing_token AS old_fencing, old.owner AS old_owner,
              old.expires_at AS old_expires_at
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id, token_hash)
    SELECT now(), 'released', $1, $2, old_fencing, $5, $6, old_owner, old_expires_at, $9, NULL
    FROM handed
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, $5, $6, owner, expires_at, $9, $4
    FROM handed
),
completed AS (
    UPDATE idempotency_records i
    SET completed_at = now(), fencing_token = h.fencing_token
    FROM handed h
    WHERE i.key_id = $6 AND i.idempotency_key = $10
),
woken AS (
    SELECT pg_notify('leasehold_wake', $1 || '/' || $2)
    FROM handed
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now())
)
SELECT namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, acquired_at, expires_at
FROM handed
WHERE (SELECT count(*) FROM woken) >= 0
"#;

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %handover.namespace, name = %handover.name))]
pub async fn hand_over(
    pool: &PgPool,
    handover: &Handover<'_>,
    actor: Actor<'_>,
    idempotency_key: Option<&str>,
) -> Result<Option<Lock>, StoreError> {
    let row: Option<LockRow> = sqlx::query_as(HANDOVER)
        .bind(handover.namespace.as_str())
        .bind(handover.name.as_str())
        .bind(&handover.current.0[..])
        .bind(&handover.next.0[..])
        .bind(actor.principal.account_id)
        .bind(actor.principal.key_id.as_str())
        .bind(handover.owner.map(Owner::as_str))
        .bind(handover.ttl.map(|t| t.seconds() as i32))
        .bind(actor.request_id)
        .bind(idempotency_key)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Lock::from))
}
