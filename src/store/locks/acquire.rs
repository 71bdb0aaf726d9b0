//! Acquire: a free or lapsed lease taken over, in one statement.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use super::super::fragments::{record_kind_events, settle_attempt};
use super::super::statement::Variants;
use super::super::StoreError;
use super::{audit_account, audit_addr};
use crate::domain::{
    Actor, Api, CompatHolder, Lock, LockMode, LockName, LockTokenHash, Metadata, NamespaceName, Owner, Ttl,
};

pub struct NewLease<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a LockName,
    pub token: &'a LockTokenHash,
    pub owner: Option<&'a Owner>,
    pub metadata: Option<&'a Metadata>,
    pub ttl: Ttl,
    /// What a compatibility API records to know its holder; `None` for native.
    pub compat: Option<CompatHolder>,
    /// The account's plan's `max_live_locks`; `None` for an anonymous caller.
    pub max_live_locks: Option<u32>,
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
    /// The lock is free, but the account holds its plan's most live leases.
    OverQuota,
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
    /// Audit rows the statement wrote: a takeover of a lapsed lease writes
    /// its `expired` event too.
    pub events: u64,
}

#[derive(sqlx::FromRow)]
pub(super) struct AcquireRow {
    pub(super) outcome: String,
    wake_in_ms: f64,
    waiters: i64,
    ours: bool,
    events: i64,
    namespace: String,
    name: String,
    fencing_token: Option<i64>,
    account_id: Option<i64>,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    ttl_seconds: Option<i32>,
    acquired_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    compat_api: Option<String>,
    compat_id: Option<Uuid>,
    mode: Option<String>,
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
            api: Api::from_column(self.compat_api.as_deref()),
            mutex_id: self.compat_id,
            mode: self.mode.as_deref().and_then(|m| LockMode::parse(m).ok()).unwrap_or_default(),
            set_id: None,
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
/// statement; one that is not renews its place when that is due. A
/// compatibility API's grant writes its holder's columns ($13-$15), a native
/// one clears them; an anonymous caller's address is recorded ($16). A grant
/// needs room under the account's `max_live_locks` ($17), counted by
/// `lease_quota_room` before any row is locked.
pub const ACQUIRE: &str = concat!(
    r#"
WITH prior AS (
    SELECT token_hash, fencing_token, account_id, key_id, owner, metadata, ttl_seconds,
           acquired_at, expires_at, compat_api, compat_id, mode, holders
    FROM locks
    WHERE namespace = $1 AND name = $2
),
ahead AS (
    SELECT expires_at FROM lock_waiters
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
      AND ($10::bigint IS NULL OR id < $10)
),
quota AS MATERIALIZED (
    SELECT lease_quota_room($4, $17, 1) AS room
    WHERE $17::integer IS NOT NULL
      AND NOT EXISTS (SELECT FROM prior WHERE expires_at > now())
      AND NOT EXISTS (SELECT FROM ahead)
),
quota_fits AS (
    SELECT $17::integer IS NULL OR coalesce((SELECT room FROM quota), 0) >= 1 AS fits
),
taken_over AS (
    UPDATE locks
    SET token_hash = $3, fencing_token = nextval('fencing_tokens'), account_id = $4, key_id = $5,
        owner = $6, metadata = $7, ttl_seconds = $8, acquired_at = now(),
        expires_at = now() + $8 * interval '1 second',
        compat_api = $13, compat_secret_hash = $14, compat_id = $15, mode = 'exclusive', holders = NULL
    FROM prior
    WHERE locks.namespace = $1 AND locks.name = $2
      AND locks.fencing_token = prior.fencing_token
      AND locks.expires_at <= now()
      AND NOT EXISTS (SELECT FROM ahead)
      AND (SELECT fits FROM quota_fits)
    RETURNING locks.fencing_token, locks.owner, locks.metadata, locks.ttl_seconds,
              locks.acquired_at, locks.expires_at,
              prior.fencing_token AS lapsed_token, prior.account_id AS lapsed_account,
              prior.key_id AS lapsed_key, prior.owner AS lapsed_owner,
              prior.expires_at AS lapsed_expires_at, prior.mode AS lapsed_mode,
              prior.holders AS lapsed_holders
),
inserted AS (
    INSERT INTO locks (namespace, name, token_hash, fencing_token, account_id, key_id, owner,
                       metadata, ttl_seconds, acquired_at, expires_at, compat_api,
                       compat_secret_hash, compat_id)
    SELECT $1, $2, $3, nextval('fencing_tokens'), $4, $5, $6, $7, $8, now(),
           now() + $8 * interval '1 second', $13, $14, $15
    WHERE NOT EXISTS (SELECT FROM prior) AND NOT EXISTS (SELECT FROM ahead) AND (SELECT fits FROM quota_fits)
    ON CONFLICT (namespace, name) DO NOTHING
    RETURNING fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at
),
granted AS (
    SELECT fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at FROM taken_over
    UNION ALL
    SELECT fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at FROM inserted
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', $1, $2, lapsed_token, lapsed_account, lapsed_key, lapsed_owner,
           lapsed_expires_at, $9, NULL::bytea, NULL::inet, NULL::text, 'lock', NULL::uuid, 'exclusive'
    FROM taken_over
    WHERE lapsed_expires_at <> '-infinity' AND lapsed_mode = 'exclusive'
    UNION ALL
    SELECT now(), 'expired', $1, $2, h.fencing_token, h.account_id, h.key_id, h.owner, h.expires_at,
           $9, NULL, NULL, NULL, 'lock', NULL, 'shared'
    FROM taken_over t, unnest(t.lapsed_holders) h
    WHERE t.lapsed_mode = 'shared'
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, $4, $5, owner, expires_at, $9, $3, $16::inet, NULL,
           'lock', NULL, 'exclusive'
    FROM granted
    RETURNING 1
),
"#,
    settle_attempt!("$10", "$5", "$11", "$12"),
    r#",
queue AS (
    SELECT count(*) AS waiters FROM lock_waiters
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
)
SELECT 'granted' AS outcome, 0::float8 AS wake_in_ms, 0::bigint AS waiters, false AS ours,
       (SELECT count(*) FROM recorded) AS events,
       $1 AS namespace, $2 AS name, fencing_token, $4::bigint AS account_id, owner, metadata,
       ttl_seconds, acquired_at, expires_at, $13::text AS compat_api, $15::uuid AS compat_id,
       'exclusive' AS mode
FROM granted
UNION ALL
SELECT 'held', extract(epoch FROM expires_at - now())::float8 * 1000, (SELECT waiters FROM queue),
       token_hash = $3, 0, $1, $2, fencing_token, account_id, owner, metadata, ttl_seconds,
       acquired_at, expires_at, compat_api, compat_id, mode
FROM prior
WHERE expires_at > now()
UNION ALL
SELECT 'queued', extract(epoch FROM min(expires_at) - now())::float8 * 1000,
       (SELECT waiters FROM queue), false, 0, $1, $2, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL
FROM ahead
HAVING count(*) > 0
   AND NOT EXISTS (SELECT FROM granted)
   AND NOT EXISTS (SELECT FROM prior WHERE expires_at > now())
UNION ALL
SELECT 'over_quota', 0, 0, false, 0, $1, $2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL
FROM quota
WHERE room < 1
"#
);

/// ACQUIRE as sent: the waiter's place ($10), the Idempotency-Key ($11), a
/// compatibility holder ($13-$15) and an anonymous caller's address ($16)
/// written as NULL when there are none (`store::statement`).
static ACQUIRE_SENT: Variants = Variants::new(
    ACQUIRE,
    &[(10, "bigint"), (11, "text"), (13, "text"), (14, "bytea"), (15, "uuid"), (16, "text"), (17, "integer")],
);

/// The text `acquire_with` sends for a lease with `compat`, by an actor
/// whose address is recorded or not.
pub fn acquire_statement(
    options: &AcquireOptions<'_>,
    compat: Option<&CompatHolder>,
    addr: bool,
    quota: bool,
) -> &'static str {
    ACQUIRE_SENT.text(&[
        options.waiter.is_some(),
        options.idempotency_key.is_some(),
        compat.is_some(),
        compat.is_some_and(|c| c.secret_hash.is_some()),
        compat.is_some_and(|c| c.mutex_id.is_some()),
        addr,
        quota,
    ])
}

/// How often a statement that lost a race to a concurrent change is re-run
/// before giving up; each run sees a newer snapshot, so one retry is the norm.
const ACQUIRE_ATTEMPTS: usize = 8;

/// A fail-fast acquire: no waiting, no retry identity.
pub async fn acquire(pool: &PgPool, lease: &NewLease<'_>, actor: &Actor) -> Result<Acquired, StoreError> {
    Ok(acquire_with(pool, lease, actor, &AcquireOptions::default()).await?.acquired)
}

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %lease.namespace, name = %lease.name))]
pub async fn acquire_with(
    pool: &PgPool,
    lease: &NewLease<'_>,
    actor: &Actor,
    options: &AcquireOptions<'_>,
) -> Result<Attempt, StoreError> {
    let compat = lease.compat.as_ref();
    for _ in 0..ACQUIRE_ATTEMPTS {
        let quota = lease.max_live_locks.is_some();
        let sql = acquire_statement(options, compat, actor.audit_addr().is_some(), quota);
        let row: Option<AcquireRow> = sqlx::query_as(sql)
            .bind(lease.namespace.as_str())
            .bind(lease.name.as_str())
            .bind(&lease.token.0[..])
            .bind(audit_account(actor))
            .bind(actor.audit_key_id())
            .bind(lease.owner.map(Owner::as_str))
            .bind(lease.metadata.map(|m| Json(m.as_raw())))
            .bind(lease.ttl.seconds() as i32)
            .bind(actor.request_id.as_deref())
            .bind(options.waiter)
            .bind(options.idempotency_key)
            .bind(options.waiter_lease.as_millis() as f64)
            .bind(compat.and_then(|c| c.api.column()))
            .bind(compat.and_then(|c| c.secret_hash.as_ref()).map(|h| &h[..]))
            .bind(compat.and_then(|c| c.mutex_id))
            .bind(audit_addr(actor))
            .bind(lease.max_live_locks.map(quota_param))
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

/// A quota as the statements bind it; beyond `integer` is no limit at all.
pub fn quota_param(max: u32) -> i32 {
    i32::try_from(max).unwrap_or(i32::MAX)
}

pub(super) fn attempt(row: AcquireRow) -> Attempt {
    let wake_in = Duration::from_secs_f64(row.wake_in_ms.max(0.0) / 1000.0);
    let (outcome, ours, waiters, events) = (row.outcome.clone(), row.ours, row.waiters, row.events as u64);
    let acquired = match (outcome.as_str(), row.lock()) {
        // A retry holding the same derived token finds its own grant.
        ("granted", Some(lock)) => Acquired::Granted(lock),
        ("held", Some(lock)) if ours => Acquired::Granted(lock),
        ("over_quota", _) => Acquired::OverQuota,
        ("held", Some(lock)) => {
            let retry_after = wake_in.as_secs_f64().ceil().max(1.0) as u32;
            Acquired::Held { lock, retry_after }
        }
        _ => Acquired::Queued { waiters },
    };
    Attempt { acquired, wake_in, waiters, events }
}
