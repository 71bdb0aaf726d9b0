//! The semaphore statements. A semaphore is one row of `semaphores` with
//! its holders in an array: each statement that changes it locks the row
//! (`FOR UPDATE`) and judges the holders of that locked version by the
//! database clock, so that concurrent grants queue on the row and never
//! admit more than its limit. A statement that rewrites the array drops the
//! holders whose lease lapsed and records their expiry in the same step.
//!
//! Waiters queue in `lock_waiters` under `semaphore/NAME`, a key no lock
//! name can take ('/' is not a name character), and are woken on it.

mod acquire;
mod batch;
mod end;

use sqlx::PgPool;

use super::holders::HolderRow;
use super::StoreError;
use crate::domain::{Holder, LockName, NamespaceName, Semaphore};

pub use acquire::{acquire, NewPermit, SemaphoreAttempt, SemaphoreGrant, SemaphoreOutcome};
pub use batch::{acquire_many, release_many, PermitItem, PermitRelease};
pub use end::{diagnose, release, renew, sweep};

/// The key of a semaphore's queue in `lock_waiters`, and of its wake-ups.
pub fn queue_name(name: &LockName) -> String {
    format!("semaphore/{name}")
}

/// The columns of a holder `h` unnested from a semaphore `s`'s array.
const HOLDER_COLUMNS: &str =
    "s.permits, h.fencing_token, h.account_id, h.owner, h.metadata, h.ttl_seconds, h.acquired_at, h.expires_at";

/// A semaphore with its live holders in grant order; `None` when none lives.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn find_live(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Option<Semaphore>, StoreError> {
    let sql = format!(
        "SELECT {HOLDER_COLUMNS} FROM semaphores s, unnest(s.holders) h
         WHERE s.namespace = $1 AND s.name = $2 AND h.expires_at > now()
         ORDER BY h.fencing_token"
    );
    let rows: Vec<HolderRow> =
        sqlx::query_as(&sql).bind(namespace.as_str()).bind(name.as_str()).fetch_all(pool).await?;
    Ok(semaphore(namespace, name, rows))
}

/// The live holder `token` is, with its semaphore's limit.
pub async fn find_holder(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &[u8],
) -> Result<Option<(Holder, u16)>, StoreError> {
    let sql = format!(
        "SELECT {HOLDER_COLUMNS} FROM semaphores s, unnest(s.holders) h
         WHERE s.namespace = $1 AND s.name = $2 AND h.token_hash = $3 AND h.expires_at > now()"
    );
    let row: Option<HolderRow> = sqlx::query_as(&sql)
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(token)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|row| (row.permits as u16, Holder::from(row))).map(|(limit, holder)| (holder, limit)))
}

fn semaphore(namespace: &NamespaceName, name: &LockName, rows: Vec<HolderRow>) -> Option<Semaphore> {
    let limit = rows.first()?.permits as u16;
    Some(Semaphore {
        namespace: namespace.as_str().to_owned(),
        name: name.as_str().to_owned(),
        limit,
        holders: rows.into_iter().map(Holder::from).collect(),
    })
}
