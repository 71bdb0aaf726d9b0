//! The durable queue of waiters, and a lock's state with its queue length.

use std::time::Duration;

use sqlx::PgPool;

use super::fragments::notify_waiters;
use super::locks::{audit_account, LockRow, LOCK_COLUMNS};
use super::StoreError;
use crate::domain::{Actor, Holder, Lock, LockMode, LockName, NamespaceName};

/// Takes a place at the back of a queue (a lock's name, or a semaphore's
/// `semaphores::queue_name`) until `deadline` at the latest; the place lapses
/// after `lease` unless the waiter keeps trying.
pub async fn enqueue(
    pool: &PgPool,
    namespace: &NamespaceName,
    queue: &str,
    mode: LockMode,
    actor: &Actor,
    deadline: Duration,
    lease: Duration,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO lock_waiters (namespace, name, account_id, key_id, deadline, expires_at, mode)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond',
                 now() + least($5, $6) * interval '1 millisecond', $7)
         RETURNING id",
    )
    .bind(namespace.as_str())
    .bind(queue)
    .bind(audit_account(actor))
    .bind(actor.audit_key_id())
    .bind(deadline.as_millis() as f64)
    .bind(lease.as_millis() as f64)
    .bind(mode.as_str())
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Gives up a place, waking the others: the leaver may have been the one
/// they were yielding to.
pub async fn leave(pool: &PgPool, waiter: i64) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "WITH left_queue AS (
             DELETE FROM lock_waiters WHERE id = $1 RETURNING namespace, name
         ),
         woken AS (
             SELECT ",
        notify_waiters!("l.namespace", "l.name"),
        "
             FROM left_queue l
             WHERE EXISTS (SELECT FROM lock_waiters w
                           WHERE w.namespace = l.namespace AND w.name = l.name
                             AND w.id <> $1 AND w.expires_at > now())
         )
         SELECT count(*) FROM woken",
    ))
    .bind(waiter)
    .execute(pool)
    .await?;
    Ok(())
}

/// A live lease and how many wait for the lock.
pub struct LockState {
    pub lock: Lock,
    pub waiters: i64,
    /// A shared lock's live readers, in grant order.
    pub readers: Vec<Holder>,
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
                 WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now()) AS waiters,
                (SELECT s.set_id FROM lock_sets s
                 WHERE s.token_hash = locks.token_hash AND s.namespace = $1) AS set_id
         FROM locks WHERE namespace = $1 AND name = $2 AND expires_at > now()"
    );
    let row: Option<StateRow> =
        sqlx::query_as(&sql).bind(namespace.as_str()).bind(name.as_str()).fetch_optional(pool).await?;
    let Some(row) = row else { return Ok(None) };
    let lock = Lock::from(row.lock);
    let readers = match lock.mode {
        LockMode::Shared => super::locks::shared::readers(pool, namespace, name, None).await?,
        LockMode::Exclusive => Vec::new(),
    };
    Ok(Some(LockState { lock, waiters: row.waiters, readers }))
}
