use sqlx::PgExecutor;

use super::StoreError;
use crate::domain::{KeyId, NamespaceName, Plan, Principal, Role};

pub struct NewKey<'a> {
    pub id: &'a KeyId,
    pub account_id: i64,
    pub role: Role,
    pub namespace: &'a NamespaceName,
    pub secret_hash: &'a str,
}

pub async fn insert(ex: impl PgExecutor<'_>, key: &NewKey<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, role, namespace, secret_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key.id.as_str())
    .bind(key.account_id)
    .bind(key.role.as_str())
    .bind(key.namespace.as_str())
    .bind(key.secret_hash)
    .execute(ex)
    .await?;
    Ok(())
}

/// A key that may be used now: not revoked, its account not disabled.
pub struct ActiveKey {
    pub principal: Principal,
    pub secret_hash: String,
}

#[derive(sqlx::FromRow)]
struct ActiveKeyRow {
    account_id: i64,
    plan: String,
    role: String,
    namespace: String,
    secret_hash: String,
}

/// The key, if it may be used now: not revoked, not past the end of a
/// rotation's grace period, its account not disabled. Also records that the
/// key id was presented (`last_used_at`), at most once a minute per key, so
/// the authenticator's periodic recheck keeps it current at no extra cost.
pub async fn find_active(ex: impl PgExecutor<'_>, id: &KeyId) -> Result<Option<ActiveKey>, StoreError> {
    let row: Option<ActiveKeyRow> = sqlx::query_as(
        "WITH active AS (
             SELECT k.id, k.account_id, a.plan, k.role, k.namespace, k.secret_hash, k.last_used_at
             FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.id = $1 AND k.revoked_at IS NULL AND a.disabled_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > now())
         ),
         touched AS (
             UPDATE api_keys SET last_used_at = now()
             FROM active
             WHERE api_keys.id = active.id
               AND (active.last_used_at IS NULL OR active.last_used_at < now() - interval '1 minute')
         )
         SELECT account_id, plan, role, namespace, secret_hash FROM active",
    )
    .bind(id.as_str())
    .fetch_optional(ex)
    .await?;
    row.map(|row| active_key(id, row)).transpose()
}

fn active_key(id: &KeyId, row: ActiveKeyRow) -> Result<ActiveKey, StoreError> {
    let corrupt = |e: crate::domain::InvalidInput| StoreError::corrupt(e);
    let principal = Principal {
        key_id: id.clone(),
        account_id: row.account_id,
        plan: row.plan.parse::<Plan>().map_err(corrupt)?,
        role: row.role.parse::<Role>().map_err(corrupt)?,
        namespace: NamespaceName::parse(&row.namespace).map_err(corrupt)?,
    };
    Ok(ActiveKey { principal, secret_hash: row.secret_hash })
}

/// Revokes a key; false when there is no such key or it was revoked already.
pub async fn revoke(ex: impl PgExecutor<'_>, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A key as administrators see it: never its secret or hash.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub account: String,
    pub role: String,
    pub namespace: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When a rotated key stops working.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

const KEY_INFO: &str = "SELECT k.id AS key_id, a.name AS account, k.role, k.namespace, k.created_at,
                               k.last_used_at, k.revoked_at, k.expires_at
                        FROM api_keys k JOIN accounts a ON a.id = k.account_id";

/// An account's keys, newest first.
pub async fn list_for_account(ex: impl PgExecutor<'_>, account_id: i64) -> Result<Vec<KeyInfo>, StoreError> {
    let sql = format!("{KEY_INFO} WHERE k.account_id = $1 ORDER BY k.created_at DESC, k.id");
    Ok(sqlx::query_as(&sql).bind(account_id).fetch_all(ex).await?)
}

pub async fn info(ex: impl PgExecutor<'_>, id: &str) -> Result<Option<KeyInfo>, StoreError> {
    let sql = format!("{KEY_INFO} WHERE k.id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(ex).await?)
}

/// Ends a usable key's life `grace_seconds` from now (sooner if it was to end
/// sooner already); false when the key is revoked, expired or unknown.
pub async fn expire_after(ex: impl PgExecutor<'_>, id: &str, grace_seconds: i32) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE api_keys
         SET expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2))
         WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(id)
    .bind(grace_seconds)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}
