//! Housekeeping statements for the sweeper.

use sqlx::PgPool;

use super::fragments::{notify_waiters, record_kind_events};
use super::StoreError;

/// Up to `limit` rows to sweep, found in one pass over the table (there is no
/// index on `expires_at`, so that renewals stay HOT updates): lapsed leases,
/// and released rows (`expires_at = '-infinity'`) whose lease began over
/// `RELEASED_KEPT` ago, kept until then so that a name used again soon is
/// rewritten in place.
pub async fn lapsed_keys(pool: &PgPool, limit: i64) -> Result<Vec<(String, String)>, StoreError> {
    let keys = sqlx::query_as(&format!(
        "SELECT namespace, name FROM locks
         WHERE expires_at <= now()
           AND (expires_at <> '-infinity' OR acquired_at < now() - interval '{RELEASED_KEPT}')
         LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(keys)
}

/// How long a released row stays for its name's next acquire, counted from
/// the start of its last lease.
const RELEASED_KEPT: &str = "1 minute";

/// Deletes the named leases that have lapsed and records each one's expiry,
/// waking the waiters of those locks; released rows among them go without an
/// event (their release was recorded, and woke any waiters). Each is found
/// by its primary key. Rows a concurrent acquire is taking over are locked,
/// so skipped: whoever gets the row records the lapse, and only once.
pub const SWEEP_KEYS: &str = concat!(
    r#"
WITH lapsed AS (
    SELECT locks.namespace, locks.name
    FROM locks
    JOIN unnest($1::text[], $2::text[]) AS k(namespace, name)
      ON locks.namespace = k.namespace AND locks.name = k.name
    WHERE locks.expires_at <= now()
    FOR UPDATE OF locks SKIP LOCKED
),
swept AS (
    DELETE FROM locks
    USING lapsed
    WHERE locks.namespace = lapsed.namespace AND locks.name = lapsed.name
      AND locks.expires_at <= now()
    RETURNING locks.*
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', namespace, name, fencing_token, account_id, key_id, owner, expires_at,
           NULL, NULL::bytea, NULL::inet, NULL::text, 'lock', NULL::uuid, 'exclusive'
    FROM swept
    WHERE expires_at <> '-infinity' AND mode = 'exclusive'
    UNION ALL
    SELECT now(), 'expired', s.namespace, s.name, h.fencing_token, h.account_id, h.key_id, h.owner,
           h.expires_at, NULL, NULL, NULL, NULL, 'lock', NULL, 'shared'
    FROM swept s, unnest(s.holders) h
    WHERE s.mode = 'shared'
),
woken AS (
    SELECT "#,
    notify_waiters!("s.namespace", "s.name"),
    r#"
    FROM swept s
    WHERE s.expires_at <> '-infinity'
      AND EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = s.namespace AND w.name = s.name AND w.expires_at > now())
)
SELECT count(*) FILTER (WHERE expires_at <> '-infinity') FROM swept WHERE (SELECT count(*) FROM woken) >= 0
"#
);

pub async fn sweep_keys(pool: &PgPool, keys: &[(String, String)]) -> Result<u64, StoreError> {
    let (namespaces, names): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(ns, n)| (ns.as_str(), n.as_str())).unzip();
    let swept: i64 = sqlx::query_scalar(SWEEP_KEYS).bind(namespaces).bind(names).fetch_one(pool).await?;
    Ok(swept as u64)
}

/// Forgets waiters whose place lapsed (a dead replica's, a gone client's).
/// A lapsed place blocks no one already; this only keeps the table small.
pub async fn purge_lapsed_waiters(pool: &PgPool) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM lock_waiters WHERE expires_at < now() - interval '1 minute'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Forgets Idempotency-Key records older than `retention_hours`.
pub async fn purge_idempotency_records(
    pool: &PgPool,
    retention_hours: u32,
    batch: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM idempotency_records WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM idempotency_records
             WHERE created_at < now() - $1 * interval '1 hour'
             LIMIT $2))",
    )
    .bind(retention_hours as i32)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
