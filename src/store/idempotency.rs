//! Idempotency-Key records: one per (API key, Idempotency-Key), claimed before
//! the work and marked done by the statement that does it.

use sqlx::types::Json;
use sqlx::PgPool;

use super::StoreError;
use crate::domain::{KeyId, Lock};

/// A record as found (or just created) when a request arrives.
#[derive(Debug, sqlx::FromRow)]
pub struct Record {
    pub request_hash: Vec<u8>,
    pub nonce: Vec<u8>,
    pub completed: bool,
    pub fencing_token: Option<i64>,
    pub outcome: Option<Json<Lock>>,
}

const CLAIM: &str = r#"
WITH created AS (
    INSERT INTO idempotency_records (key_id, idempotency_key, request_hash, nonce)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (key_id, idempotency_key) DO NOTHING
    RETURNING request_hash, nonce, completed_at IS NOT NULL AS completed, fencing_token, outcome
)
SELECT * FROM created
UNION ALL
SELECT request_hash, nonce, completed_at IS NOT NULL, fencing_token, outcome
FROM idempotency_records
WHERE key_id = $1 AND idempotency_key = $2 AND NOT EXISTS (SELECT FROM created)
"#;

/// The record for this key, creating it with `nonce` if there is none.
pub async fn claim(
    pool: &PgPool,
    key_id: &KeyId,
    idempotency_key: &str,
    request_hash: &[u8],
    nonce: &[u8],
) -> Result<Record, StoreError> {
    // A record committed after this statement's snapshot is neither created
    // nor seen; the next run sees it.
    for _ in 0..3 {
        let record: Option<Record> = sqlx::query_as(CLAIM)
            .bind(key_id.as_str())
            .bind(idempotency_key)
            .bind(request_hash)
            .bind(nonce)
            .fetch_optional(pool)
            .await?;
        if let Some(record) = record {
            return Ok(record);
        }
    }
    Err(StoreError::TimedOut)
}
