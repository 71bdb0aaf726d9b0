//! The compat acquire: a free or lapsed lease taken over, or a live mutex.uno
//! mutex replaced, in one statement.

use std::sync::LazyLock;

use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{CompatActor, CompatApi, CompatLock, CompatRow, ACTOR};
use crate::domain::{LockName, LockToken, Metadata, NamespaceName, Ttl};
use crate::store::StoreError;

pub struct CompatLease<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a LockName,
    pub ttl: Ttl,
    pub metadata: Option<&'a Metadata>,
    pub api: CompatApi,
    pub secret_hash: Option<&'a [u8; 32]>,
    pub id: Option<Uuid>,
    /// mutex.uno's If-Match: the live mutex with this id may be replaced.
    pub replaces: Option<Uuid>,
}

#[derive(Debug)]
pub enum Acquired {
    Granted(CompatLock),
    Held {
        lock: CompatLock,
        retry_after: u32,
    },
    /// The lock is free but reserved for native waiters queued earlier.
    Queued {
        retry_after: u32,
    },
    /// Concurrent changes kept winning; the caller may retry.
    Contended,
}

#[derive(sqlx::FromRow)]
struct AcquireRow {
    outcome: String,
    retry_after: i32,
    #[sqlx(flatten)]
    lock: CompatRow,
}

/// Native ACQUIRE's takeover logic, plus the compat columns, the anonymous
/// actor, and mutex.uno's replacement of a live mutex named by its id ($13):
/// recorded as its release by the caller, it wakes the lock's waiters to
/// reschedule for the new lease, as a native handover does. The new fencing
/// token is drawn once (`next`) so that `compat_fencing_token` can equal it;
/// a concurrent change of the row makes the takeover change nothing, and the
/// statement run again, as the native one does. Like a native
/// newcomer, a compat acquire never takes a free lock from queued waiters:
/// it reports `queued` (whose lock columns are placeholders) instead.
static ACQUIRE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"
WITH {ACTOR},
prior AS (
    SELECT fencing_token, account_id, key_id, owner, metadata, ttl_seconds, acquired_at, expires_at,
           expires_at <= now() AS lapsed,
           CASE WHEN compat_fencing_token = fencing_token THEN compat_api END AS compat_api,
           CASE WHEN compat_fencing_token = fencing_token THEN compat_id END AS compat_id
    FROM locks
    WHERE namespace = $1 AND name = $2
),
replaceable AS (
    SELECT fencing_token FROM prior
    WHERE lapsed OR ($13::uuid IS NOT NULL AND compat_api = 'mutex_uno' AND compat_id = $13)
),
ahead AS (
    SELECT expires_at FROM lock_waiters WHERE namespace = $1 AND name = $2 AND expires_at > now()
),
next AS (SELECT nextval('fencing_tokens') AS fencing_token),
taken_over AS (
    UPDATE locks
    SET token_hash = $3, fencing_token = next.fencing_token, account_id = actor.account_id,
        key_id = actor.key_id, owner = NULL, metadata = $6, ttl_seconds = $7, acquired_at = now(),
        expires_at = now() + $7 * interval '1 second', compat_api = $8,
        compat_fencing_token = next.fencing_token, compat_secret_hash = $9, compat_id = $10
    FROM prior, actor, next
    WHERE locks.namespace = $1 AND locks.name = $2
      AND locks.fencing_token = prior.fencing_token
      AND prior.fencing_token IN (SELECT fencing_token FROM replaceable)
      AND (NOT prior.lapsed OR NOT EXISTS (SELECT FROM ahead))
      AND (locks.expires_at <= now()
           OR (locks.compat_fencing_token = locks.fencing_token AND locks.compat_id = $13))
    RETURNING locks.fencing_token, locks.metadata, locks.ttl_seconds, locks.acquired_at,
              locks.expires_at, prior.lapsed AS prior_lapsed, prior.fencing_token AS prior_token,
              prior.account_id AS prior_account, prior.key_id AS prior_key,
              prior.owner AS prior_owner, prior.expires_at AS prior_expires_at
),
inserted AS (
    INSERT INTO locks (namespace, name, token_hash, fencing_token, account_id, key_id, metadata,
                       ttl_seconds, acquired_at, expires_at, compat_api, compat_fencing_token,
                       compat_secret_hash, compat_id)
    SELECT $1, $2, $3, next.fencing_token, actor.account_id, actor.key_id, $6, $7, now(),
           now() + $7 * interval '1 second', $8, next.fencing_token, $9, $10
    FROM actor, next
    WHERE NOT EXISTS (SELECT FROM prior) AND NOT EXISTS (SELECT FROM ahead)
    ON CONFLICT (namespace, name) DO NOTHING
    RETURNING fencing_token, metadata, ttl_seconds, acquired_at, expires_at
),
granted AS (
    SELECT fencing_token, metadata, ttl_seconds, acquired_at, expires_at FROM taken_over
    UNION ALL
    SELECT fencing_token, metadata, ttl_seconds, acquired_at, expires_at FROM inserted
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id, client_addr)
    SELECT now(), 'expired', $1, $2, prior_token, prior_account, prior_key, prior_owner,
           prior_expires_at, $11, NULL
    FROM taken_over WHERE prior_lapsed AND prior_expires_at <> '-infinity'
    UNION ALL
    SELECT now(), 'released', $1, $2, prior_token, actor.account_id, actor.key_id, prior_owner,
           prior_expires_at, $11, $12::inet
    FROM taken_over, actor WHERE NOT prior_lapsed
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, actor.account_id, actor.key_id, NULL,
           expires_at, $11, $12::inet
    FROM granted, actor
),
woken AS (
    SELECT pg_notify('leasehold_wake', $1 || '/' || $2)
    FROM taken_over
    WHERE NOT prior_lapsed
      AND EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now())
)
SELECT 'granted' AS outcome, 0 AS retry_after, $1::text AS namespace, $2::text AS name, fencing_token,
       actor.account_id, NULL::text AS owner, metadata, ttl_seconds, acquired_at, expires_at,
       $8::text AS compat_api, $10::uuid AS compat_id
FROM granted, actor
WHERE (SELECT count(*) FROM woken) >= 0
UNION ALL
SELECT 'held', ceil(extract(epoch FROM expires_at - now()))::int, $1, $2, fencing_token,
       account_id, owner, metadata, ttl_seconds, acquired_at, expires_at, compat_api, compat_id
FROM prior
WHERE NOT lapsed AND fencing_token NOT IN (SELECT fencing_token FROM replaceable)
UNION ALL
SELECT 'queued', ceil(extract(epoch FROM min(expires_at) - now()))::int, $1, $2, 0, 0, NULL, NULL,
       1, now(), now(), NULL, NULL
FROM ahead
HAVING count(*) > 0 AND NOT EXISTS (SELECT FROM granted)
   AND NOT EXISTS (SELECT FROM prior WHERE NOT lapsed)
"#
    )
});

/// As the native acquire: a statement that loses a race changes nothing and
/// runs again on a fresh snapshot.
const ACQUIRE_ATTEMPTS: usize = 8;

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %lease.namespace, name = %lease.name, api = lease.api.as_str()))]
pub async fn acquire(
    pool: &PgPool,
    lease: &CompatLease<'_>,
    actor: CompatActor<'_>,
) -> Result<Acquired, StoreError> {
    // Nobody ever learns this token: the lease is held through its API alone.
    let token = LockToken::generate().hash();
    for _ in 0..ACQUIRE_ATTEMPTS {
        let row: Option<AcquireRow> = sqlx::query_as(ACQUIRE.as_str())
            .bind(lease.namespace.as_str())
            .bind(lease.name.as_str())
            .bind(&token.0[..])
            .bind(actor.account_id())
            .bind(actor.key_id())
            .bind(lease.metadata.map(|m| Json(m.as_raw())))
            .bind(lease.ttl.seconds() as i32)
            .bind(lease.api.as_str())
            .bind(lease.secret_hash.map(|h| &h[..]))
            .bind(lease.id)
            .bind(actor.request_id)
            .bind(actor.recorded_addr())
            .bind(lease.replaces)
            .fetch_optional(pool)
            .await?;
        match row {
            Some(row) => {
                let retry_after = row.retry_after.max(1) as u32;
                return Ok(match row.outcome.as_str() {
                    "granted" => Acquired::Granted(row.lock.into()),
                    "queued" => Acquired::Queued { retry_after },
                    _ => Acquired::Held { lock: row.lock.into(), retry_after },
                });
            }
            None => tracing::debug!("compat acquire lost a race with a concurrent change; retrying"),
        }
    }
    Ok(Acquired::Contended)
}
