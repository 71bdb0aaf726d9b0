//! The lock statements. Each one changes a lease and writes its audit row in
//! one statement, and judges expiry by the database clock alone.
//!
//! A release does not delete the row: it sets `expires_at` to `-infinity`,
//! which every reader already takes for "not live", so that a
//! name used again is rewritten in place (a HOT update) rather than leaving a
//! dead row and inserting a new one; with DELETE the table grew with the
//! number of operations until vacuum caught up (BENCHMARKS.md). A takeover of
//! a released row records no `expired` event, and the sweeper deletes
//! released rows once they have gone unused for a while (`store::sweep`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;

use super::statement::Variants;
use super::StoreError;
use crate::domain::{Lock, LockName, LockTokenHash, Metadata, NamespaceName, Owner, Principal, Ttl};

/// Who does something to a lock, as recorded in the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub principal: &'a Principal,
    pub request_id: Option<&'a str>,
}

pub struct NewLease<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a LockName,
    pub token: &'a LockTokenHash,
    pub owner: Option<&'a Owner>,
    pub metadata: Option<&'a Metadata>,
    pub ttl: Ttl,
}

#[derive(Debug)]
pub enum Acquired {
    Granted(Lock),
    Held {
        lock: Lock,
        retry_after: u32,
    },
    /// The lock is free but reserved for earlier waiters.
    Queued {
        waiters: i64,
    },
}

/// How an acquire takes its place among waiters, and its retry identity.
#[derive(Debug, Default, Clone, Copy)]
pub struct AcquireOptions<'a> {
    /// This request's place in the queue; `None` for a newcomer, which
    /// yields to every live waiter.
    pub waiter: Option<i64>,
    /// Marks this Idempotency-Key's record done in the same statement.
    pub idempotency_key: Option<&'a str>,
    /// How long a waiter's place lives without another attempt.
    pub waiter_lease: Duration,
}

/// An acquire's outcome, with what a waiter needs to schedule its next try.
#[derive(Debug)]
pub struct Attempt {
    pub acquired: Acquired,
    /// Until the holder's lease or the first blocking waiter's place lapses,
    /// by the database clock.
    pub wake_in: Duration,
    pub waiters: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct LockRow {
    namespace: String,
    name: String,
    fencing_token: i64,
    account_id: i64,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    ttl_seconds: i32,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<LockRow> for Lock {
    fn from(row: LockRow) -> Self {
        Lock {
            namespace: row.namespace,
            name: row.name,
            fencing_token: row.fencing_token,
            account_id: row.account_id,
            owner: row.owner,
            metadata: row.metadata.map(|m| m.0),
            ttl_seconds: row.ttl_seconds,
            acquired_at: row.acquired_at,
            expires_at: row.expires_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AcquireRow {
    outcome: String,
    wake_in_ms: f64,
    waiters: i64,
    ours: bool,
    namespace: String,
    name: String,
    fencing_token: Option<i64>,
    account_id: Option<i64>,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    ttl_seconds: Option<i32>,
    acquired_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

impl AcquireRow {
    fn lock(self) -> Option<Lock> {
        Some(Lock {
            namespace: self.namespace,
            name: self.name,
            fencing_token: self.fencing_token?,
            account_id: self.account_id?,
            owner: self.owner,
            metadata: self.metadata.map(|m| m.0),
            ttl_seconds: self.ttl_seconds?,
            acquired_at: self.acquired_at?,
            expires_at: self.expires_at?,
        })
    }
}

/// Takes a free or lapsed lease, recording the lapse of the one it replaces,
/// unless a live waiter queued earlier than this request.
///
/// The statement reads the current row from its snapshot and changes it only
/// if it is still that row (same fencing token), so the `expired` event always
/// names the lease that was replaced. When a concurrent change makes the
/// snapshot stale, it changes nothing and reports nothing; then it runs again
/// on a fresh snapshot. A waiter that is granted leaves the queue in the same
/// statement; one that is not renews its place when that is due.
pub const ACQUIRE: &str = r#"
WITH prior AS (
    SELECT token_hash, fencing_token, account_id, key_id, owner, metadata, ttl_seconds,
           acquired_at, expires_at
    FROM locks
    WHERE namespace = $1 AND name = $2
),
ahead AS (
    SELECT expires_at FROM lock_waiters
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
      AND ($10::bigint IS NULL OR id < $10)
),
taken_over AS (
    UPDATE locks
    SET token_hash = $3, fencing_token = nextval('fencing_tokens'), account_id = $4, key_id = $5,
        owner = $6, metadata = $7, ttl_seconds = $8, acquired_at = now(),
        expires_at = now() + $8 * interval '1 second'
    FROM prior
    WHERE locks.namespace = $1 AND locks.name = $2
      AND locks.fencing_token = prior.fencing_token
      AND locks.expires_at <= now()
      AND NOT EXISTS (SELECT FROM ahead)
    RETURNING locks.fencing_token, locks.owner, locks.metadata, locks.ttl_seconds,
              locks.acquired_at, locks.expires_at,
              prior.fencing_token AS lapsed_token, prior.account_id AS lapsed_account,
              prior.key_id AS lapsed_key, prior.owner AS lapsed_owner,
              prior.expires_at AS lapsed_expires_at
),
inserted AS (
    INSERT INTO locks (namespace, name, token_hash, fencing_token, account_id, key_id, owner,
                       metadata, ttl_seconds, acquired_at, expires_at)
    SELECT $1, $2, $3, nextval('fencing_tokens'), $4, $5, $6, $7, $8, now(),
           now() + $8 * interval '1 second'
    WHERE NOT EXISTS (SELECT FROM prior) AND NOT EXISTS (SELECT FROM ahead)
    ON CONFLICT (namespace, name) DO NOTHING
    RETURNING fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at
),
granted AS (
    SELECT fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at FROM taken_over
    UNION ALL
    SELECT fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at FROM inserted
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id, token_hash)
    SELECT now(), 'expired', $1, $2, lapsed_token, lapsed_account, lapsed_key, lapsed_owner,
           lapsed_expires_at, $9, NULL
    FROM taken_over
    WHERE lapsed_expires_at <> '-infinity'
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, $4, $5, owner, expires_at, $9, $3
    FROM granted
),
dequeued AS (
    DELETE FROM lock_waiters WHERE id = $10 AND EXISTS (SELECT FROM granted)
),
completed AS (
    UPDATE idempotency_records
    SET completed_at = now(), fencing_token = g.fencing_token
    FROM granted g
    WHERE key_id = $5 AND idempotency_key = $11
),
kept_in_queue AS (
    UPDATE lock_waiters
    SET expires_at = least(now() + $12 * interval '1 millisecond', deadline)
    WHERE id = $10 AND NOT EXISTS (SELECT FROM granted)
      AND expires_at < now() + $12 * interval '1 millisecond' / 2
),
queue AS (
    SELECT count(*) AS waiters FROM lock_waiters
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
)
SELECT 'granted' AS outcome, 0::float8 AS wake_in_ms, 0::bigint AS waiters, false AS ours,
       $1 AS namespace, $2 AS name, fencing_token, $4::bigint AS account_id, owner, metadata,
       ttl_seconds, acquired_at, expires_at
FROM granted
UNION ALL
SELECT 'held', extract(epoch FROM expires_at - now())::float8 * 1000, (SELECT waiters FROM queue),
       token_hash = $3, $1, $2, fencing_token, account_id, owner, metadata, ttl_seconds,
       acquired_at, expires_at
FROM prior
WHERE expires_at > now()
UNION ALL
SELECT 'queued', extract(epoch FROM min(expires_at) - now())::float8 * 1000,
       (SELECT waiters FROM queue), false, $1, $2, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM ahead
HAVING count(*) > 0
   AND NOT EXISTS (SELECT FROM granted)
   AND NOT EXISTS (SELECT FROM prior WHERE expires_at > now())
"#;

/// ACQUIRE as sent: the waiter's place ($10) and the Idempotency-Key ($11)
/// written as NULL when there are none (`store::statement`).
static ACQUIRE_SENT: Variants = Variants::new(ACQUIRE, &[(10, "bigint"), (11, "text")]);

/// The text `acquire_with` sends for `options`.
pub fn acquire_statement(options: &AcquireOptions<'_>) -> &'static str {
    ACQUIRE_SENT.text(&[options.waiter.is_some(), options.idempotency_key.is_some()])
}

/// How often a statement that lost a race to a concurrent change is re-run
/// before giving up; each run sees a newer snapshot, so one retry is the norm.
const ACQUIRE_ATTEMPTS: usize = 8;

/// A fail-fast acquire: no waiting, no retry identity.
pub async fn acquire(pool: &PgPool, lease: &NewLease<'_>, actor: Actor<'_>) -> Result<Acquired, StoreError> {
    Ok(acquire_with(pool, lease, actor, &AcquireOptions::default()).await?.acquired)
}

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %lease.namespace, name = %lease.name))]
pub async fn acquire_with(
    pool: &PgPool,
    lease: &NewLease<'_>,
    actor: Actor<'_>,
    options: &AcquireOptions<'_>,
) -> Result<Attempt, StoreError> {
    for _ in 0..ACQUIRE_ATTEMPTS {
        let row: Option<AcquireRow> = sqlx::query_as(acquire_statement(options))
            .bind(lease.namespace.as_str())
            .bind(lease.name.as_str())
            .bind(&lease.token.0[..])
            .bind(actor.principal.account_id)
            .bind(actor.principal.key_id.as_str())
            .bind(lease.owner.map(Owner::as_str))
            .bind(lease.metadata.map(|m| Json(m.as_raw())))
            .bind(lease.ttl.seconds() as i32)
            .bind(actor.request_id)
            .bind(options.waiter)
            .bind(options.idempotency_key)
            .bind(options.waiter_lease.as_millis() as f64)
            .fetch_optional(pool)
            .await?;
        let Some(row) = row else {
            tracing::debug!("acquire lost a race with a concurrent change; retrying");
            continue;
        };
        return Ok(attempt(row));
    }
    Err(StoreError::TimedOut)
}

fn attempt(row: AcquireRow) -> Attempt {
    let wake_in = Duration::from_secs_f64(row.wake_in_ms.max(0.0) / 1000.0);
    let (outcome, ours, waiters) = (row.outcome.clone(), row.ours, row.waiters);
    let acquired = match (outcome.as_str(), row.lock()) {
        // A retry holding the same derived token finds its own grant.
        ("granted", Some(lock)) => Acquired::Granted(lock),
        ("held", Some(lock)) if ours => Acquired::Granted(lock),
        ("held", Some(lock)) => {
            let retry_after = wake_in.as_secs_f64().ceil().max(1.0) as u32;
            Acquired::Held { lock, retry_after }
        }
        _ => Acquired::Queued { waiters },
    };
    Attempt { acquired, wake_in, waiters }
}

pub const RENEW: &str = r#"
WITH renewed AS (
    UPDATE locks
    SET ttl_seconds = coalesce($4, ttl_seconds),
        expires_at = now() + coalesce($4, ttl_seconds) * interval '1 second'
    WHERE namespace = $1 AND name = $2 AND token_hash = $3 AND expires_at > now()
    RETURNING *
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id)
    SELECT now(), 'renewed', namespace, name, fencing_token, $5, $6, owner, expires_at, $7
    FROM renewed
),
completed AS (
    UPDATE idempotency_records i
    SET completed_at = now(), fencing_token = r.fencing_token,
        outcome = jsonb_build_object(
            'namespace', r.namespace, 'name', r.name, 'fencing_token', r.fencing_token,
            'account_id', r.account_id, 'owner', r.owner, 'metadata', r.metadata,
            'ttl_seconds', r.ttl_seconds, 'acquired_at', r.acquired_at, 'expires_at', r.expires_at)
    FROM renewed r
    WHERE i.key_id = $6 AND i.idempotency_key = $8
)
SELECT namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, acquired_at, expires_at
FROM renewed
"#;

/// RENEW as sent: without an Idempotency-Key, $8 written as NULL.
static RENEW_SENT: Variants = Variants::new(RENEW, &[(8, "text")]);

pub fn renew_statement(idempotency_key: Option<&str>) -> &'static str {
    RENEW_SENT.text(&[idempotency_key.is_some()])
}

/// Extends a live lease held by `token`; `None` when the token holds none.
pub async fn renew(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
    ttl: Option<Ttl>,
    actor: Actor<'_>,
) -> Result<Option<Lock>, StoreError> {
    renew_with(pool, namespace, name, token, ttl, actor, None).await
}

/// `renew`, marking `idempotency_key`'s record done in the same statement.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn renew_with(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
    ttl: Option<Ttl>,
    actor: Actor<'_>,
    idempotency_key: Option<&str>,
) -> Result<Option<Lock>, StoreError> {
    let row: Option<LockRow> = sqlx::query_as(renew_statement(idempotency_key))
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(&token.0[..])
        .bind(ttl.map(|t| t.seconds() as i32))
        .bind(actor.principal.account_id)
        .bind(actor.principal.key_id.as_str())
        .bind(actor.request_id)
        .bind(idempotency_key)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Lock::from))
}

/// Ends a live lease (marking its row released, see the module's comment)
/// and, only when someone waits for the lock, wakes them: NOTIFY serialises
/// commits, so a release nobody waits for sends none. The lease's expiry as
/// it stood is read first, for the answer and the audit row.
pub const RELEASE: &str = r#"
WITH live AS (
    SELECT fencing_token, expires_at FROM locks
    WHERE namespace = $1 AND name = $2 AND token_hash = $3 AND expires_at > now()
),
released AS (
    UPDATE locks
    SET expires_at = '-infinity'
    FROM live
    WHERE locks.namespace = $1 AND locks.name = $2 AND locks.token_hash = $3
      AND locks.expires_at > now() AND locks.fencing_token = live.fencing_token
    RETURNING locks.namespace, locks.name, locks.fencing_token, locks.account_id, locks.owner,
              locks.metadata, locks.ttl_seconds, locks.acquired_at, live.expires_at
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id)
    SELECT now(), 'released', namespace, name, fencing_token, $4, $5, owner, expires_at, $6
    FROM released
),
completed AS (
    UPDATE idempotency_records i
    SET completed_at = now(), fencing_token = r.fencing_token
    FROM released r
    WHERE i.key_id = $5 AND i.idempotency_key = $7
),
woken AS (
    SELECT pg_notify('leasehold_wake', r.namespace || '/' || r.name)
    FROM released r
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now())
)
SELECT namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, acquired_at, expires_at
FROM released
WHERE (SELECT count(*) FROM woken) >= 0
"#;

/// RELEASE as sent: without an Idempotency-Key, $7 written as NULL.
static RELEASE_SENT: Variants = Variants::new(RELEASE, &[(7, "text")]);

pub fn release_statement(idempotency_key: Option<&str>) -> &'static str {
    RELEASE_SENT.text(&[idempotency_key.is_some()])
}

/// Ends a live lease held by `token`; `None` when the token holds none.
pub async fn release(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
    actor: Actor<'_>,
) -> Result<Option<Lock>, StoreError> {
    release_with(pool, namespace, name, token, actor, None).await
}

/// `release`, marking `idempotency_key`'s record done in the same statement.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn release_with(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
    actor: Actor<'_>,
    idempotency_key: Option<&str>,
) -> Result<Option<Lock>, StoreError> {
    let row: Option<LockRow> = sqlx::query_as(release_statement(idempotency_key))
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(&token.0[..])
        .bind(actor.principal.account_id)
        .bind(actor.principal.key_id.as_str())
        .bind(actor.request_id)
        .bind(idempotency_key)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Lock::from))
}

pub(crate) const LOCK_COLUMNS: &str =
    "namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, acquired_at, expires_at";

/// The live lease on a lock, if any.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn find_live(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Option<Lock>, StoreError> {
    let sql =
        format!("SELECT {LOCK_COLUMNS} FROM locks WHERE namespace = $1 AND name = $2 AND expires_at > now()");
    let row: Option<LockRow> =
        sqlx::query_as(&sql).bind(namespace.as_str()).bind(name.as_str()).fetch_optional(pool).await?;
    Ok(row.map(Lock::from))
}

/// The live lease on a lock if `token` holds it.
pub async fn find_held_by(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
) -> Result<Option<Lock>, StoreError> {
    let sql = format!(
        "SELECT {LOCK_COLUMNS} FROM locks
         WHERE namespace = $1 AND name = $2 AND token_hash = $3 AND expires_at > now()"
    );
    let row: Option<LockRow> = sqlx::query_as(&sql)
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(&token.0[..])
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Lock::from))
}

/// A page of a namespace's live locks, in name order.
pub struct ListQuery<'a> {
    pub namespace: &'a NamespaceName,
    /// Only this account's locks, for callers who may not see others'.
    pub account_id: Option<i64>,
    /// Names in `[from, to)`: a prefix's range.
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// Names strictly after this one: the keyset cursor.
    pub after: Option<&'a str>,
    pub limit: i64,
}

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %query.namespace))]
pub async fn list_live(pool: &PgPool, query: &ListQuery<'_>) -> Result<Vec<Lock>, StoreError> {
    let sql = format!(
        "SELECT {LOCK_COLUMNS} FROM locks
         WHERE namespace = $1 AND expires_at > now()
           AND ($2::bigint IS NULL OR account_id = $2)
           AND ($3::text IS NULL OR name >= $3)
           AND ($4::text IS NULL OR name < $4)
           AND ($5::text IS NULL OR name > $5)
         ORDER BY name
         LIMIT $6"
    );
    let rows: Vec<LockRow> = sqlx::query_as(&sql)
        .bind(query.namespace.as_str())
        .bind(query.account_id)
        .bind(query.from)
        .bind(query.to)
        .bind(query.after)
        .bind(query.limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Lock::from).collect())
}
