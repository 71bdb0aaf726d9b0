//! What the support console reads beyond what the APIs do: a semaphore's or
//! shared lock's holders with their accounts and key ids, the members of a
//! lock set, the database's clock, and (in `lists`) the accounts and live
//! locks it lists.

mod lists;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{LockName, NamespaceName};

pub use lists::{accounts, live_locks, AccountSummary, Holding, LiveLock, LiveLocksQuery};

/// A live holder of a semaphore's permit or of a shared lock's read lease,
/// as support sees it.
#[derive(Debug, Clone)]
pub struct LiveHolder {
    pub fencing_token: i64,
    pub account: Option<String>,
    pub key_id: String,
    pub owner: Option<String>,
    /// The JSON the holder gave with its lease, as stored.
    pub metadata: Option<Box<RawValue>>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A semaphore's limit and live holders, in grant order (perhaps none).
#[derive(Debug, Clone)]
pub struct SemaphoreState {
    pub limit: i32,
    pub holders: Vec<LiveHolder>,
}

/// A holder's columns; all NULL where a semaphore has no live holder (an
/// outer join).
#[derive(sqlx::FromRow)]
struct HolderRow {
    fencing_token: Option<i64>,
    account: Option<String>,
    key_id: Option<String>,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    acquired_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

impl HolderRow {
    fn holder(self) -> Option<LiveHolder> {
        Some(LiveHolder {
            fencing_token: self.fencing_token?,
            account: self.account,
            key_id: self.key_id?,
            owner: self.owner,
            metadata: self.metadata.map(|m| m.0),
            acquired_at: self.acquired_at?,
            expires_at: self.expires_at?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SemaphoreRow {
    permits: i32,
    #[sqlx(flatten)]
    holder: HolderRow,
}

/// The columns of `HolderRow`, of a holder `h` and its account `a`.
const HOLDER_COLUMNS: &str =
    "h.fencing_token, a.name AS account, h.key_id, h.owner, h.metadata, h.acquired_at, h.expires_at";

/// A semaphore's state; `None` when no statement has created it (or the
/// sweeper has removed it). The outer join keeps a semaphore without live
/// holders, so that its limit still shows.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn semaphore_state(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Option<SemaphoreState>, StoreError> {
    let sql = format!(
        "SELECT s.permits, {HOLDER_COLUMNS}
         FROM semaphores s
         LEFT JOIN LATERAL unnest(s.holders) h ON h.expires_at > now()
         LEFT JOIN accounts a ON a.id = h.account_id
         WHERE s.namespace = $1 AND s.name = $2
         ORDER BY h.fencing_token"
    );
    let rows: Vec<SemaphoreRow> =
        sqlx::query_as(&sql).bind(namespace.as_str()).bind(name.as_str()).fetch_all(pool).await?;
    let Some(limit) = rows.first().map(|r| r.permits) else { return Ok(None) };
    let holders = rows.into_iter().filter_map(|r| r.holder.holder()).collect();
    Ok(Some(SemaphoreState { limit, holders }))
}

/// A shared lock's live readers, in grant order.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn lock_readers(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Vec<LiveHolder>, StoreError> {
    let sql = format!(
        "SELECT {HOLDER_COLUMNS}
         FROM locks l
         JOIN LATERAL unnest(l.holders) h ON h.expires_at > now()
         LEFT JOIN accounts a ON a.id = h.account_id
         WHERE l.namespace = $1 AND l.name = $2 AND l.mode = 'shared'
         ORDER BY h.fencing_token"
    );
    let rows: Vec<HolderRow> =
        sqlx::query_as(&sql).bind(namespace.as_str()).bind(name.as_str()).fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(HolderRow::holder).collect())
}

/// A live permit an account holds, with its semaphore.
#[derive(Debug, Clone)]
pub struct HeldPermit {
    pub namespace: String,
    pub name: String,
    pub holder: LiveHolder,
}

#[derive(sqlx::FromRow)]
struct PermitRow {
    namespace: String,
    name: String,
    #[sqlx(flatten)]
    holder: HolderRow,
}

/// The account's live permits, at most `limit`, in namespace and name
/// order. No index finds a holder's account: this reads every semaphore,
/// one row each however many hold it, which a support page can afford.
#[tracing::instrument(level = "debug", skip_all, fields(%account_id))]
pub async fn account_permits(
    pool: &PgPool,
    account_id: i64,
    limit: i64,
) -> Result<Vec<HeldPermit>, StoreError> {
    let sql = format!(
        "SELECT s.namespace, s.name, {HOLDER_COLUMNS}
         FROM semaphores s
         JOIN LATERAL unnest(s.holders) h ON h.expires_at > now() AND h.account_id = $1
         LEFT JOIN accounts a ON a.id = h.account_id
         ORDER BY s.namespace, s.name, h.fencing_token
         LIMIT $2"
    );
    let rows: Vec<PermitRow> = sqlx::query_as(&sql).bind(account_id).bind(limit).fetch_all(pool).await?;
    let permits = rows.into_iter().filter_map(|r| {
        Some(HeldPermit { namespace: r.namespace, name: r.name, holder: r.holder.holder()? })
    });
    Ok(permits.collect())
}

/// The names of a live lock set's members, in name order; `None` once the
/// set has been released.
#[tracing::instrument(level = "debug", skip_all, fields(%set_id))]
pub async fn set_members(pool: &PgPool, set_id: Uuid) -> Result<Option<Vec<String>>, StoreError> {
    let names = sqlx::query_scalar("SELECT names FROM lock_sets WHERE set_id = $1")
        .bind(set_id)
        .fetch_optional(pool)
        .await?;
    Ok(names)
}

/// The database's clock: what leases' expiries are measured against, so a
/// page says "expires in 25 s" by the clock that will end the lease.
pub async fn now(pool: &PgPool) -> Result<DateTime<Utc>, StoreError> {
    Ok(sqlx::query_scalar("SELECT now()").fetch_one(pool).await?)
}
