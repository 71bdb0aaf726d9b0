//! The support console's sessions. Only the SHA-256 of a session id is
//! stored; a session acts as the key it signed in with, while that key is
//! active and the session has not expired.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;

pub async fn create(
    ex: impl PgExecutor<'_>,
    id_hash: &[u8],
    key_id: &str,
    csrf_token: &str,
    lifetime_seconds: i64,
) -> Result<DateTime<Utc>, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO console_sessions (id_hash, key_id, csrf_token, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at",
    )
    .bind(id_hash)
    .bind(key_id)
    .bind(csrf_token)
    .bind(lifetime_seconds as f64)
    .fetch_one(ex)
    .await?)
}

/// A live session: the key it acts as, and its CSRF token.
#[derive(Debug, sqlx::FromRow)]
pub struct Live {
    pub key_id: String,
    pub csrf_token: String,
}

/// The session, if it has not expired and its key is still active.
pub async fn find_live(ex: impl PgExecutor<'_>, id_hash: &[u8]) -> Result<Option<Live>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.key_id, s.csrf_token
         FROM console_sessions s JOIN api_keys k ON k.id = s.key_id JOIN accounts a ON a.id = k.account_id
         WHERE s.id_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL
           AND (k.expires_at IS NULL OR k.expires_at > now()) AND a.disabled_at IS NULL",
    )
    .bind(id_hash)
    .fetch_optional(ex)
    .await?)
}

/// Ends a session, and any that have expired.
pub async fn delete(ex: impl PgExecutor<'_>, id_hash: &[u8]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1 OR expires_at <= now()")
        .bind(id_hash)
        .execute(ex)
        .await?;
    Ok(())
}

/// Forgets sessions that have expired; returns how many.
pub async fn delete_expired(ex: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= now()").execute(ex).await?;
    Ok(done.rows_affected())
}
