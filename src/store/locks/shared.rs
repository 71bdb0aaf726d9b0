//! Shared (read) leases on a lock: any number of readers, each with its own
//! token, fencing token and lease, in the row's `holders` (`store::holders`);
//! the row's own columns describe them as a whole, so the exclusive
//! statements exclude readers by `expires_at` alone (see the migration).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;

use super::super::fragments::{record_kind_events, settle_attempt};
use super::super::holders::{self, locked_holder, release_holder, renew_holder, HolderChange, HolderRow};
use super::super::StoreError;
use super::acquire::quota_param;
use super::{audit_account, audit_addr, AcquireOptions, NewLease};
use crate::domain::{Actor, Holder, LockName, LockTokenHash, NamespaceName, Owner, Ttl};

/// A shared acquire's outcome.
#[derive(Debug)]
pub enum SharedOutcome {
    Granted(Holder),
    /// An exclusive lease lives: its fencing token, owner, account, expiry.
    Held {
        fencing_token: i64,
        account_id: i64,
        owner: Option<String>,
        expires_at: DateTime<Utc>,
    },
    /// Free for readers, but a writer queued first.
    Queued,
    /// The lock would take the reader, but its account has no room left.
    OverQuota,
}

#[derive(Debug)]
pub struct SharedAttempt {
    pub outcome: SharedOutcome,
    pub wake_in: Duration,
    pub waiters: i64,
    pub events: u64,
}

#[derive(sqlx::FromRow)]
struct SharedRow {
    outcome: String,
    wake_in_ms: f64,
    waiters: i64,
    events: i64,
    fencing_token: Option<i64>,
    account_id: Option<i64>,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    ttl_seconds: Option<i32>,
    acquired_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

/// Grants a shared lease unless an exclusive one lives or a writer queued
/// before this request; an exclusive lease that lapsed is replaced (its
/// expiry recorded), as are readers that lapsed. The row is locked first.
const ACQUIRE_SHARED: &str = concat!(
    r#"
WITH quota AS MATERIALIZED (
    SELECT lease_quota_room($4, $14, 1) AS room WHERE $14::integer IS NOT NULL
),
current AS (
    SELECT mode, holders, fencing_token, account_id, key_id, owner, expires_at
    FROM locks WHERE namespace = $1 AND name = $2
      -- The account's quota lock comes before the row's (`lease_quota_room`).
      AND (SELECT count(*) FROM quota) >= 0
    FOR UPDATE
),
live AS (
    SELECT h.* FROM current c, unnest(c.holders) h WHERE c.mode = 'shared' AND h.expires_at > now()
),
lapsed AS (
    SELECT h.fencing_token, h.account_id, h.key_id, h.owner, h.expires_at, 'shared' AS mode
    FROM current c, unnest(c.holders) h WHERE c.mode = 'shared' AND h.expires_at <= now()
    UNION ALL
    SELECT fencing_token, account_id, key_id, owner, expires_at, 'exclusive'
    FROM current WHERE mode = 'exclusive' AND expires_at <= now() AND expires_at <> '-infinity'
),
ahead AS (
    SELECT expires_at FROM lock_waiters
    WHERE namespace = $1 AND name = $2 AND expires_at > now() AND mode = 'exclusive'
      AND ($12::bigint IS NULL OR id < $12)
),
verdict AS (
    SELECT CASE
        WHEN c.mode = 'exclusive' AND c.expires_at > now() THEN 'held'
        WHEN EXISTS (SELECT FROM ahead) THEN 'queued'
        WHEN coalesce((SELECT room FROM quota), 1) < 1 THEN 'over_quota'
        WHEN c.expires_at IS NULL THEN 'new'
        ELSE 'granted'
    END AS outcome
    FROM (SELECT) AS one LEFT JOIN current c ON true
),
reader AS (
    SELECT ROW($3, nextval('fencing_tokens'), $4, $5, $6, $7, $8, now(),
               now() + $8 * interval '1 second')::lease_holder AS h
    FROM verdict WHERE outcome IN ('new', 'granted')
),
updated AS (
    UPDATE locks l
    SET mode = 'shared', holders = ARRAY(SELECT x::lease_holder FROM live x) || r.h, token_hash = '\x',
        fencing_token = (r.h).fencing_token, account_id = $4, key_id = $5, owner = $6, metadata = $7,
        ttl_seconds = $8, acquired_at = now(),
        expires_at = greatest((SELECT max(expires_at) FROM live), (r.h).expires_at),
        compat_api = NULL, compat_secret_hash = NULL, compat_id = NULL
    FROM reader r, verdict v
    WHERE v.outcome = 'granted' AND l.namespace = $1 AND l.name = $2
    RETURNING (r.h).*
),
inserted AS (
    INSERT INTO locks (namespace, name, token_hash, fencing_token, account_id, key_id, owner, metadata,
                       ttl_seconds, acquired_at, expires_at, mode, holders)
    SELECT $1, $2, '\x', (r.h).fencing_token, $4, $5, $6, $7, $8, now(), (r.h).expires_at, 'shared',
           ARRAY[r.h]
    FROM reader r, verdict v WHERE v.outcome = 'new'
    ON CONFLICT (namespace, name) DO NOTHING
    RETURNING (holders[1]).*
),
granted AS (
    SELECT * FROM updated UNION ALL SELECT * FROM inserted
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', $1, $2, l.fencing_token, l.account_id, l.key_id, l.owner, l.expires_at,
           $9, NULL::bytea, NULL::inet, NULL::text, 'lock', NULL::uuid, l.mode
    FROM lapsed l
    WHERE EXISTS (SELECT FROM updated)
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, $4, $5, owner, expires_at, $9, $3, $10::inet, NULL,
           'lock', NULL, 'shared'
    FROM granted
    RETURNING 1
),
"#,
    settle_attempt!("$12", "$5", "$11", "$13"),
    r#"
SELECT CASE WHEN v.outcome = 'new' AND g.fencing_token IS NULL THEN 'lost_race' ELSE v.outcome END
           AS outcome,
       CASE v.outcome
           WHEN 'held' THEN extract(epoch FROM c.expires_at - now()) * 1000
           WHEN 'queued' THEN extract(epoch FROM (SELECT min(expires_at) FROM ahead) - now()) * 1000
           ELSE 0
       END::float8 AS wake_in_ms,
       (SELECT count(*) FROM lock_waiters w
        WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now()) AS waiters,
       (SELECT count(*) FROM recorded) AS events,
       coalesce(g.fencing_token, c.fencing_token) AS fencing_token,
       CASE WHEN g.fencing_token IS NOT NULL THEN $4 ELSE c.account_id END AS account_id,
       coalesce(g.owner, c.owner) AS owner, g.metadata, g.ttl_seconds, g.acquired_at,
       -- A released row's '-infinity' is never read.
       coalesce(g.expires_at, CASE WHEN v.outcome = 'held' THEN c.expires_at END) AS expires_at
FROM verdict v LEFT JOIN granted g ON true LEFT JOIN current c ON true
"#
);

/// How often a statement that lost the race to create the row runs again.
const ATTEMPTS: usize = 4;

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %lease.namespace, name = %lease.name))]
pub async fn acquire_shared(
    pool: &PgPool,
    lease: &NewLease<'_>,
    actor: &Actor,
    options: &AcquireOptions<'_>,
) -> Result<SharedAttempt, StoreError> {
    for _ in 0..ATTEMPTS {
        let row: SharedRow = sqlx::query_as(ACQUIRE_SHARED)
            .bind(lease.namespace.as_str())
            .bind(lease.name.as_str())
            .bind(&lease.token.0[..])
            .bind(audit_account(actor))
            .bind(actor.audit_key_id())
            .bind(lease.owner.map(Owner::as_str))
            .bind(lease.metadata.map(|m| Json(m.as_raw())))
            .bind(lease.ttl.seconds() as i32)
            .bind(actor.request_id.as_deref())
            .bind(audit_addr(actor))
            .bind(options.idempotency_key)
            .bind(options.waiter)
            .bind(options.waiter_lease.as_millis() as f64)
            .bind(lease.max_live_locks.map(quota_param))
            .fetch_one(pool)
            .await?;
        if row.outcome != "lost_race" {
            return Ok(attempt(row));
        }
        tracing::debug!("a concurrent acquire created the lock; retrying");
    }
    Err(StoreError::TimedOut)
}

fn attempt(row: SharedRow) -> SharedAttempt {
    let wake_in = Duration::from_secs_f64(row.wake_in_ms.max(0.0) / 1000.0);
    let outcome = match (row.outcome.as_str(), row.fencing_token, row.account_id, row.expires_at) {
        ("held", Some(fencing_token), Some(account_id), Some(expires_at)) => {
            SharedOutcome::Held { fencing_token, account_id, owner: row.owner, expires_at }
        }
        ("new" | "granted", Some(fencing_token), Some(account_id), Some(expires_at)) => {
            SharedOutcome::Granted(Holder {
                fencing_token,
                account_id,
                owner: row.owner,
                metadata: row.metadata.map(|m| m.0),
                ttl_seconds: row.ttl_seconds.unwrap_or_default(),
                acquired_at: row.acquired_at.unwrap_or(expires_at),
                expires_at,
            })
        }
        ("over_quota", ..) => SharedOutcome::OverQuota,
        _ => SharedOutcome::Queued,
    };
    SharedAttempt { outcome, wake_in, waiters: row.waiters, events: row.events as u64 }
}

const RENEW_SHARED: &str = renew_holder!("locks", "lock", "shared", "AND mode = 'shared'", "0");

const RELEASE_SHARED: &str = release_holder!("locks", "lock", "shared", "AND mode = 'shared'", "$2");

/// Ends the live reader $3 and grants its successor $8 (owner $9, length
/// $7; the reader's own when NULL) a new shared lease with a higher fencing
/// token, in one step: no writer gets in between.
const HAND_OVER_SHARED: &str = concat!(
    locked_holder!("locks", "AND mode = 'shared'"),
    r#"
successor AS (
    SELECT ROW($8, nextval('fencing_tokens'), $4, $6, coalesce($9, m.owner), m.metadata,
               coalesce($7, m.ttl_seconds), now(),
               now() + coalesce($7, m.ttl_seconds) * interval '1 second')::lease_holder AS h
    FROM mine m
),
rewritten AS (
    SELECT ARRAY(SELECT x::lease_holder FROM current c, unnest(c.holders) x
                 WHERE x.expires_at > now() AND x.token_hash <> $3) || s.h AS holders
    FROM successor s
),
changed AS (
    UPDATE locks t
    SET holders = w.holders, fencing_token = (s.h).fencing_token,
        expires_at = (SELECT max(x.expires_at) FROM unnest(w.holders) x)
    FROM rewritten w, successor s
    WHERE t.namespace = $1 AND t.name = $2
    RETURNING (s.h).*
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', $1, $2, l.fencing_token, l.account_id, l.key_id, l.owner, l.expires_at,
           $5, NULL::bytea, NULL::inet, NULL::text, 'lock', NULL::uuid, 'shared'
    FROM lapsed l
    WHERE EXISTS (SELECT FROM changed)
    UNION ALL
    SELECT now(), 'released', $1, $2, m.fencing_token, $4, $6, m.owner, now(), $5, NULL, NULL, NULL,
           'lock', NULL, 'shared'
    FROM mine m
    WHERE EXISTS (SELECT FROM changed)
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, $4, $6, owner, expires_at, $5, $8, NULL, NULL,
           'lock', NULL, 'shared'
    FROM changed
    RETURNING 1
)
SELECT c.fencing_token, c.account_id, c.owner, c.metadata, c.ttl_seconds, c.acquired_at, c.expires_at
FROM changed c
WHERE (SELECT count(*) FROM recorded) > 0
"#
);

/// The successor's shared lease; `None` when `token` holds no live one.
pub async fn hand_over_shared(
    pool: &PgPool,
    change: &HolderChange<'_>,
    successor: &LockTokenHash,
    owner: Option<&Owner>,
    ttl: Option<Ttl>,
) -> Result<Option<Holder>, StoreError> {
    let row: Option<HolderRow> = sqlx::query_as(HAND_OVER_SHARED)
        .bind(change.namespace.as_str())
        .bind(change.name.as_str())
        .bind(&change.token.0[..])
        .bind(audit_account(change.actor))
        .bind(change.actor.request_id.as_deref())
        .bind(change.actor.audit_key_id())
        .bind(ttl.map(|t| t.seconds() as i32))
        .bind(&successor.0[..])
        .bind(owner.map(Owner::as_str))
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Holder::from))
}

/// The reader `token` names, renewed; `None` when it holds no live shared lease.
pub async fn renew_shared(
    pool: &PgPool,
    change: &HolderChange<'_>,
    ttl: Option<Ttl>,
) -> Result<Option<Holder>, StoreError> {
    Ok(holders::renew(pool, RENEW_SHARED, change, ttl).await?.map(Holder::from))
}

/// Whether `token` held a live shared lease, now ended.
pub async fn release_shared(pool: &PgPool, change: &HolderChange<'_>) -> Result<bool, StoreError> {
    holders::release(pool, RELEASE_SHARED, change).await
}

/// A shared lock's live readers in grant order; only the one `token`
/// names, if given.
pub async fn readers(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    token: Option<&LockTokenHash>,
) -> Result<Vec<Holder>, StoreError> {
    let rows: Vec<HolderRow> = sqlx::query_as(
        "SELECT h.fencing_token, h.account_id, h.owner, h.metadata, h.ttl_seconds, h.acquired_at, h.expires_at
         FROM locks l, unnest(l.holders) h
         WHERE l.namespace = $1 AND l.name = $2 AND l.mode = 'shared' AND h.expires_at > now()
           AND ($3::bytea IS NULL OR h.token_hash = $3)
         ORDER BY h.fencing_token",
    )
    .bind(namespace.as_str())
    .bind(name.as_str())
    .bind(token.map(|t| &t.0[..]))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Holder::from).collect())
}
