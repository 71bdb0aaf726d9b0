//! An administrator ends someone's lease.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;

/// The lease that was ended.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Ended {
    pub namespace: String,
    pub name: String,
    pub fencing_token: i64,
    pub account_id: i64,
    pub owner: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Deletes the live lease and records a `force_released` event, in one
/// statement. The event carries the holder's account (so the holder sees how
/// its lease ended), the acting key's id and the reason.
const FORCE_RELEASE: &str = r#"
WITH released AS (
    DELETE FROM locks
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
    RETURNING namespace, name, fencing_token, account_id, owner, acquired_at, expires_at
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id, reason)
    SELECT now(), 'force_released', namespace, name, fencing_token, account_id, $3, owner,
           expires_at, $4, $5
    FROM released
)
SELECT namespace, name, fencing_token, account_id, owner, acquired_at, expires_at FROM released
"#;

pub struct Force<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub key_id: &'a str,
    pub request_id: Option<&'a str>,
    pub reason: &'a str,
}

/// `None` when the lock holds no live lease.
#[tracing::instrument(level = "debug", skip_all, fields(namespace = force.namespace, name = force.name))]
pub async fn force_release(ex: impl PgExecutor<'_>, force: &Force<'_>) -> Result<Option<Ended>, StoreError> {
    Ok(sqlx::query_as(FORCE_RELEASE)
        .bind(force.namespace)
        .bind(force.name)
        .bind(force.key_id)
        .bind(force.request_id)
        .bind(force.reason)
        .fetch_optional(ex)
        .await?)
}
