//! Renewing and releasing a semaphore's permit, and sweeping lapsed ones.

use sqlx::PgPool;

use super::super::fragments::{notify_waiters, record_kind_events};
use super::super::holders::{self, release_holder, renew_holder, HolderChange};
use super::super::StoreError;
use crate::domain::{Holder, LeaseEnd, LockName, LockTokenHash, NamespaceName, Ttl};

/// Extends the live permit $3 holds to $7 seconds from now (its own length
/// when NULL).
const RENEW: &str = renew_holder!(
    "semaphores",
    "semaphore",
    "shared",
    "",
    "(SELECT permits FROM semaphores WHERE namespace = $1 AND name = $2)"
);

/// Ends the live permit $3 holds, waking the semaphore's waiters.
const RELEASE: &str = release_holder!("semaphores", "semaphore", "shared", "", "'semaphore/' || $2");

/// The renewed permit with its semaphore's limit; `None` when `token` holds
/// no live permit.
#[tracing::instrument(level = "debug", skip_all, fields(namespace = %change.namespace, name = %change.name))]
pub async fn renew(
    pool: &PgPool,
    change: &HolderChange<'_>,
    ttl: Option<Ttl>,
) -> Result<Option<(Holder, u16)>, StoreError> {
    let row = holders::renew(pool, RENEW, change, ttl).await?;
    Ok(row.map(|row| (row.permits as u16, Holder::from(row))).map(|(limit, holder)| (holder, limit)))
}

/// Whether `token` held a live permit, now ended.
#[tracing::instrument(level = "debug", skip_all, fields(namespace = %change.namespace, name = %change.name))]
pub async fn release(pool: &PgPool, change: &HolderChange<'_>) -> Result<bool, StoreError> {
    holders::release(pool, RELEASE, change).await
}

/// How the permit `token` held ended, from its audit rows: a permit that
/// lapsed and was not dropped yet has no ending recorded.
pub async fn diagnose(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
) -> Result<LeaseEnd, StoreError> {
    let ended: Option<Option<String>> = sqlx::query_scalar(
        "WITH ours AS (
             SELECT fencing_token FROM lock_events
             WHERE token_hash = $3 AND namespace = $1 AND name = $2 AND kind = 'semaphore'
               AND event = 'acquired'
             ORDER BY id DESC LIMIT 1
         )
         SELECT (SELECT e.event FROM lock_events e
                 WHERE e.namespace = $1 AND e.name = $2 AND e.kind = 'semaphore'
                   AND e.fencing_token = ours.fencing_token AND e.event IN ('released', 'expired')
                 ORDER BY e.id LIMIT 1)
         FROM ours",
    )
    .bind(namespace.as_str())
    .bind(name.as_str())
    .bind(&token.0[..])
    .fetch_optional(pool)
    .await?;
    Ok(match ended {
        None => LeaseEnd::UnknownToken,
        Some(Some(event)) if event == "released" => LeaseEnd::Released,
        Some(_) => LeaseEnd::Expired,
    })
}

/// Drops lapsed holders from up to `limit` semaphores, recording each
/// one's expiry and waking the waiters, and deletes semaphores left with no
/// holder for a minute. Rows a concurrent statement holds are skipped: it
/// records their lapses itself.
const SWEEP: &str = concat!(
    r#"
WITH stale AS (
    SELECT s.namespace, s.name, s.holders FROM semaphores s
    WHERE EXISTS (SELECT FROM unnest(s.holders) h WHERE h.expires_at <= now())
       OR s.expires_at < now() - interval '1 minute'
    LIMIT $1
    FOR UPDATE SKIP LOCKED
),
lapsed AS (
    SELECT st.namespace, st.name, h.* FROM stale st, unnest(st.holders) h WHERE h.expires_at <= now()
),
pruned AS (
    UPDATE semaphores s
    SET holders = ARRAY(SELECT h::lease_holder FROM unnest(st.holders) h WHERE h.expires_at > now())
    FROM stale st
    WHERE s.namespace = st.namespace AND s.name = st.name
      AND EXISTS (SELECT FROM unnest(st.holders) h WHERE h.expires_at > now())
),
deleted AS (
    DELETE FROM semaphores s
    USING stale st
    WHERE s.namespace = st.namespace AND s.name = st.name
      AND NOT EXISTS (SELECT FROM unnest(st.holders) h WHERE h.expires_at > now())
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', namespace, name, fencing_token, account_id, key_id, owner, expires_at,
           NULL, NULL, NULL, NULL, 'semaphore', NULL::uuid, 'shared'
    FROM lapsed
    RETURNING namespace, name
),
woken AS (
    SELECT "#,
    notify_waiters!("r.namespace", "'semaphore/' || r.name"),
    r#"
    FROM (SELECT DISTINCT namespace, name FROM recorded) r
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = r.namespace AND w.name = 'semaphore/' || r.name
                    AND w.expires_at > now())
)
SELECT count(*) FROM recorded WHERE (SELECT count(*) FROM woken) >= 0
"#
);

/// Sweeps up to `limit` semaphores; returns the expiries recorded.
pub async fn sweep(pool: &PgPool, limit: i64) -> Result<u64, StoreError> {
    let expired: i64 = sqlx::query_scalar(SWEEP).bind(limit).fetch_one(pool).await?;
    Ok(expired as u64)
}
