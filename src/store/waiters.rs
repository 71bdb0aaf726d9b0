//! The durable queue of waiters, and a lock's state with its queue length.

use std::time::Duration;

use sqlx::PgPool;

use super::locks::{Actor, LockRow, LOCK_COLUMNS};
use super::StoreError;
use crate::domain::{Lock, LockName, NamespaceName};

/// Takes a place at the back of a lock's queue until `deadline` at the latest;
/// the place lapses after `lease` unless the waiter keeps trying.
pub async fn enqueue(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    actor: Actor<'_>,
    deadline: Duration,
    lease: Duration,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO lock_waiters (namespace, name, account_id, key_id, deadline, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond',
                 now() + least($5, $6) * interval '1 millisecond')
         RETURNING id",
    )
    .bind(namespace.as_str())
    .bind(name.as_str())
    .bind(actor.principal.account_id)
    .bind(actor.principal.key_id.as_str())
    .bind(deadline.as_millis() as f64)
    .bind(lease.as_millis() as f64)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Gives up a place, waking the others: the leaver may have been the one
/// they were yielding to.
pub async fn leave(pool: &PgPool, waiter: i64) -> Result<(), StoreError> {
    sqlx::query(
        "WITH left_queue AS (
             DELETE FROM lock_waiters WHERE id = $1 RETURNING namespace, name
         ),
         woken AS (
             SELECT pg_notify('leasehold_wake', l.namespace || '/' || l.name)
             FROM left_queue l
             WHERE EXISTS (SELECT FROM lock_waiters w
                           WHERE w.namespace = l.namespace AND w.name = l.name
                             AND w.id <> $1 AND w.expires_at > now())
         )
         SELECT count(*) FROM woken",
    )
    .bind(waiter)
    .execute(pool)
    .await?;
    Ok(())
}

/// A live lease and how many wait for the lock.
pub struct LockState {
    pub lock: Lock,
    pub waiters: i64,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    waiters: i64,
    #[sqlx(flatten)]
    lock: LockRow,
}

pub async fn lock_state(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Option<LockState>, StoreError> {
    let sql = format!(
        "SELECT {LOCK_COLUMNS},
                (SELECT count(*) FROM lock_waiters w
                 WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now()) AS waiters
         FROM locks WHERE namespace = $1 AND name = $2 AND expires_at > now()"
    );
    let row: Option<StateRow> =
        sqlx::query_as(&sql).bind(namespace.as_str()).bind(name.as_str()).fetch_optional(pool).await?;
    Ok(row.map(|row| LockState { lock: row.lock.into(), waiters: row.waiters }))
}
