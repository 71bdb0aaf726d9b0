//! Webhooks and their delivery log; the claim and the outcome statements
//! the delivery worker runs (`crate::webhooks`).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;

/// A webhook as its account sees it: never its secret.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct WebhookRecord {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub namespace: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub struct NewWebhook<'a> {
    pub id: Uuid,
    pub account_id: i64,
    pub url: &'a str,
    pub events: &'a [String],
    pub namespace: Option<&'a str>,
    pub secret: &'a str,
}

const COLUMNS: &str = "id, url, events, namespace, created_at";

/// Registers a webhook unless the account already has `max` of them; its
/// cursor starts now, so it delivers events from its registration on.
pub async fn create(
    ex: impl PgExecutor<'_>,
    hook: &NewWebhook<'_>,
    max: i64,
) -> Result<Option<WebhookRecord>, StoreError> {
    let sql = format!(
        "INSERT INTO webhooks (id, account_id, url, events, namespace, secret)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE (SELECT count(*) FROM webhooks WHERE account_id = $2 AND deleted_at IS NULL) < $7
         RETURNING {COLUMNS}"
    );
    let created = sqlx::query_as(&sql)
        .bind(hook.id)
        .bind(hook.account_id)
        .bind(hook.url)
        .bind(hook.events)
        .bind(hook.namespace)
        .bind(hook.secret)
        .bind(max)
        .fetch_optional(ex)
        .await?;
    Ok(created)
}

/// The account's webhooks, oldest first (at most `max_per_account`).
pub async fn list(ex: impl PgExecutor<'_>, account_id: i64) -> Result<Vec<WebhookRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 AND deleted_at IS NULL
         ORDER BY created_at, id"
    );
    Ok(sqlx::query_as(&sql).bind(account_id).fetch_all(ex).await?)
}

pub async fn find(
    ex: impl PgExecutor<'_>,
    account_id: i64,
    id: Uuid,
) -> Result<Option<WebhookRecord>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL");
    Ok(sqlx::query_as(&sql).bind(id).bind(account_id).fetch_optional(ex).await?)
}

/// Deletes the webhook: no more deliveries; its log stays. False when the
/// account has no such webhook.
pub async fn delete(ex: impl PgExecutor<'_>, account_id: i64, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE webhooks SET deleted_at = now()
         WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One attempt to deliver one event.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub event_id: i64,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// `delivered`, `failed` (to be retried) or `given_up`.
    pub outcome: String,
}

/// A page of a webhook's delivery log, newest first, before log id `before`.
pub async fn deliveries(
    ex: impl PgExecutor<'_>,
    webhook_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let found = sqlx::query_as(
        "SELECT id, event_id, attempt, attempted_at, duration_ms, status_code, error, outcome
         FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(webhook_id)
    .bind(before)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    Ok(found)
}
