//! An administrator ends someone's lease.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::fragments::{notify_waiters, record_kind_events};
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

/// Deletes the live lease (a shared lock's every reader) and records a
/// `force_released` event for each, in one
/// statement, waking the lock's waiters (a rare act, so its row goes rather
/// than stays for a next acquire, as a holder's release keeps it). The event carries the holder's account (so the holder sees how
/// its lease ended), the acting key's id and the reason.
const FORCE_RELEASE: &str = concat!(
    r#"
WITH released AS (
    DELETE FROM locks
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
    RETURNING namespace, name, fencing_token, account_id, owner, acquired_at, expires_at, mode, holders
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'force_released', namespace, name, fencing_token, account_id, $3, owner,
           expires_at, $4, NULL::bytea, NULL::inet, $5, 'lock', NULL::uuid, 'exclusive'
    FROM released
    WHERE mode = 'exclusive'
    UNION ALL
    SELECT now(), 'force_released', r.namespace, r.name, h.fencing_token, h.account_id, $3, h.owner,
           h.expires_at, $4, NULL, NULL, $5, 'lock', NULL, 'shared'
    FROM released r, unnest(r.holders) h
    WHERE r.mode = 'shared' AND h.expires_at > now()
),
woken AS (
    SELECT "#,
    notify_waiters!("$1", "$2"),
    r#"
    FROM released
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now())
)
SELECT namespace, name, fencing_token, account_id, owner, acquired_at, expires_at
FROM released
WHERE (SELECT count(*) FROM woken) >= 0
"#
);

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
