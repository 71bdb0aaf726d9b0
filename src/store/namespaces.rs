use sqlx::{PgConnection, PgExecutor};

use super::StoreError;
use crate::domain::NamespaceName;

/// Who owns a namespace: `None` for the shared one.
pub type Owner = Option<i64>;

pub async fn create(
    ex: impl PgExecutor<'_>,
    name: &NamespaceName,
    account_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO namespaces (name, account_id) VALUES ($1, $2)")
        .bind(name.as_str())
        .bind(account_id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Creates the account's namespace if it owns fewer than `max`; false when
/// it has no room. Locks the account's row for the rest of the transaction,
/// so that the count the insert sees (in a snapshot taken after the lock) is
/// not stale.
pub async fn create_within(
    conn: &mut PgConnection,
    name: &NamespaceName,
    account_id: i64,
    max: u32,
) -> Result<bool, StoreError> {
    sqlx::query("SELECT FROM accounts WHERE id = $1 FOR UPDATE").bind(account_id).execute(&mut *conn).await?;
    let created = sqlx::query(
        "INSERT INTO namespaces (name, account_id)
         SELECT $1, $2 WHERE (SELECT count(*) FROM namespaces WHERE account_id = $2) < $3",
    )
    .bind(name.as_str())
    .bind(account_id)
    .bind(i64::from(max))
    .execute(conn)
    .await?;
    Ok(created.rows_affected() == 1)
}

/// The namespace's owner, or `None` when there is no such namespace.
pub async fn owner(ex: impl PgExecutor<'_>, name: &NamespaceName) -> Result<Option<Owner>, StoreError> {
    let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT account_id FROM namespaces WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(ex)
        .await?;
    Ok(row.map(|(owner,)| owner))
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct NamespaceRecord {
    pub name: String,
    /// The owning account's name; `None` for the shared namespace.
    pub account: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Namespaces in name order, optionally one account's only.
pub async fn list(
    ex: impl PgExecutor<'_>,
    account_id: Option<i64>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<NamespaceRecord>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT n.name, a.name AS account, n.created_at
         FROM namespaces n LEFT JOIN accounts a ON a.id = n.account_id
         WHERE ($1::bigint IS NULL OR n.account_id = $1) AND ($2::text IS NULL OR n.name > $2)
         ORDER BY n.name LIMIT $3",
    )
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
    /// The shared namespace is never deleted.
    Shared,
    /// It holds live leases.
    HasLocks,
    /// Keys (active or not) have it as their default namespace.
    HasKeys,
}

/// Deletes a private namespace that holds no live lease and that no key
/// defaults to, in one statement.
pub async fn delete_if_empty(ex: impl PgExecutor<'_>, name: &NamespaceName) -> Result<Deleted, StoreError> {
    let (found, shared, locks, keys, deleted): (bool, bool, bool, bool, bool) = sqlx::query_as(
        "WITH target AS (SELECT name, account_id FROM namespaces WHERE name = $1),
         busy AS (
             SELECT EXISTS (SELECT FROM locks WHERE namespace = $1 AND expires_at > now()) AS locks,
                    EXISTS (SELECT FROM api_keys WHERE namespace = $1) AS keys
         ),
         deleted AS (
             DELETE FROM namespaces n USING target, busy
             WHERE n.name = target.name AND target.account_id IS NOT NULL
               AND NOT busy.locks AND NOT busy.keys
             RETURNING n.name
         )
         SELECT EXISTS (SELECT FROM target),
                EXISTS (SELECT FROM target WHERE account_id IS NULL),
                busy.locks, busy.keys, EXISTS (SELECT FROM deleted)
         FROM busy",
    )
    .bind(name.as_str())
    .fetch_one(ex)
    .await?;
    Ok(match () {
        _ if deleted => Deleted::Deleted,
        _ if !found => Deleted::NotFound,
        _ if shared => Deleted::Shared,
        _ if locks => Deleted::HasLocks,
        _ if keys => Deleted::HasKeys,
        _ => Deleted::NotFound,
    })
}
