//! The lock statements. Each one changes a lease and writes its audit row in
//! one statement, and judges expiry by the database clock alone. Every API
//! goes through them: a compatibility API's lease is an ordinary lease whose
//! lock token was generated and thrown away, identified by the `compat_*`
//! columns its grant wrote instead (`domain::Proof`).
//!
//! A release does not delete the row: it sets `expires_at` to `-infinity`,
//! which every reader already takes for "not live", so that a name used
//! again is rewritten in place (a HOT update) rather than leaving a dead row
//! and inserting a new one; with DELETE the table grew with the number of
//! operations until vacuum caught up (docs/benchmarks.md). A takeover of a
//! released row records no `expired` event, and the sweeper deletes released
//! rows once they have gone unused for a while (`store::sweep`).

mod acquire;
pub mod batch;
pub(crate) mod end;
pub mod shared;
pub mod verify;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{Actor, Api, Lock, LockMode, LockName, LockTokenHash, NamespaceName};

pub use acquire::{
    acquire, acquire_statement, acquire_with, quota_param, AcquireOptions, Acquired, Attempt, NewLease,
};
pub use end::{release, release_statement, renew, renew_statement, LeaseChange, RELEASE, RENEW};

/// The acting account and key as the audit trail records them. The engine
/// gives an anonymous caller the reserved anonymous account.
pub(crate) fn audit_account(actor: &Actor) -> i64 {
    actor.account_id.expect("a lock operation's actor has an account")
}

/// An address bound as text and cast to `inet` in the statement.
pub(crate) fn audit_addr(actor: &Actor) -> Option<String> {
    actor.audit_addr().map(|addr| addr.to_string())
}

#[derive(sqlx::FromRow)]
pub(crate) struct LockRow {
    namespace: String,
    name: String,
    fencing_token: i64,
    account_id: i64,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    ttl_seconds: i32,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    compat_api: Option<String>,
    compat_id: Option<Uuid>,
    /// Absent where only exclusive leases can be returned (a token's own).
    #[sqlx(default)]
    mode: String,
    #[sqlx(default)]
    set_id: Option<Uuid>,
}

impl From<LockRow> for Lock {
    fn from(row: LockRow) -> Self {
        Lock {
            namespace: row.namespace,
            name: row.name,
            fencing_token: row.fencing_token,
            account_id: row.account_id,
            owner: row.owner,
            metadata: row.metadata.map(|m| m.0),
            ttl_seconds: row.ttl_seconds,
            acquired_at: row.acquired_at,
            expires_at: row.expires_at,
            api: Api::from_column(row.compat_api.as_deref()),
            mutex_id: row.compat_id,
            mode: LockMode::parse(&row.mode).unwrap_or_default(),
            set_id: row.set_id,
        }
    }
}

pub(crate) const LOCK_COLUMNS: &str = "namespace, name, fencing_token, account_id, owner, metadata, \
     ttl_seconds, acquired_at, expires_at, compat_api, compat_id, mode";

/// The live lease on a lock, if any.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn find_live(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Option<Lock>, StoreError> {
    let sql =
        format!("SELECT {LOCK_COLUMNS} FROM locks WHERE namespace = $1 AND name = $2 AND expires_at > now()");
    let row: Option<LockRow> =
        sqlx::query_as(&sql).bind(namespace.as_str()).bind(name.as_str()).fetch_optional(pool).await?;
    Ok(row.map(Lock::from))
}

/// The live lease on a lock if `token` holds it.
pub async fn find_held_by(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
) -> Result<Option<Lock>, StoreError> {
    let sql = format!(
        "SELECT {LOCK_COLUMNS} FROM locks
         WHERE namespace = $1 AND name = $2 AND token_hash = $3 AND expires_at > now()"
    );
    let row: Option<LockRow> = sqlx::query_as(&sql)
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(&token.0[..])
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Lock::from))
}

/// A page of a namespace's live locks, in name order.
pub struct ListQuery<'a> {
    pub namespace: &'a NamespaceName,
    /// Only this account's locks, for callers who may not see others'.
    pub account_id: Option<i64>,
    /// Names in `[from, to)`: a prefix's range.
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// Names strictly after this one: the keyset cursor.
    pub after: Option<&'a str>,
    pub limit: i64,
}

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %query.namespace))]
pub async fn list_live(pool: &PgPool, query: &ListQuery<'_>) -> Result<Vec<Lock>, StoreError> {
    let sql = format!(
        "SELECT {LOCK_COLUMNS} FROM locks
         WHERE namespace = $1 AND expires_at > now()
           AND ($2::bigint IS NULL OR account_id = $2)
           AND ($3::text IS NULL OR name >= $3)
           AND ($4::text IS NULL OR name < $4)
           AND ($5::text IS NULL OR name > $5)
         ORDER BY name
         LIMIT $6"
    );
    let rows: Vec<LockRow> = sqlx::query_as(&sql)
        .bind(query.namespace.as_str())
        .bind(query.account_id)
        .bind(query.from)
        .bind(query.to)
        .bind(query.after)
        .bind(query.limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Lock::from).collect())
}
