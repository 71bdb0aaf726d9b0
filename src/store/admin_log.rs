//! The append-only admin log: who did what, when, from where. The table
//! refuses UPDATE, DELETE and TRUNCATE (a trigger), so rows are only added.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgExecutor;

use super::StoreError;

/// One admin action about to be recorded.
pub struct Entry<'a> {
    pub key_id: Option<&'a str>,
    pub account_id: Option<i64>,
    pub action: &'a str,
    pub target: &'a str,
    pub details: serde_json::Value,
    pub source: &'a str,
    pub request_id: Option<&'a str>,
}

pub async fn append(ex: impl PgExecutor<'_>, entry: &Entry<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO admin_log (key_id, account_id, action, target, details, source, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.key_id)
    .bind(entry.account_id)
    .bind(entry.action)
    .bind(entry.target)
    .bind(Json(&entry.details))
    .bind(entry.source)
    .bind(entry.request_id)
    .execute(ex)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Recorded {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub key_id: Option<String>,
    pub action: String,
    pub target: String,
    pub details: Json<serde_json::Value>,
    pub source: String,
    pub request_id: Option<String>,
}

/// The newest entries first, those with an id below `before`.
pub async fn list(
    ex: impl PgExecutor<'_>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Recorded>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, occurred_at, key_id, action, target, details, source, request_id FROM admin_log
         WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}
