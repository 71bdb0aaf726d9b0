//! A semaphore's permit, granted while fewer than its limit hold one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;

use super::super::fragments::{record_kind_events, settle_attempt};
use super::super::locks::{audit_account, audit_addr};
use super::super::StoreError;
use crate::domain::{
    Actor, Holder, LockName, LockTokenHash, Metadata, NamespaceName, Owner, SemaphoreLimit, Ttl,
};

pub struct NewPermit<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a LockName,
    pub limit: SemaphoreLimit,
    pub token: &'a LockTokenHash,
    pub owner: Option<&'a Owner>,
    pub metadata: Option<&'a Metadata>,
    pub ttl: Ttl,
    /// Marks this Idempotency-Key's record done in the same statement.
    pub idempotency_key: Option<&'a str>,
    /// This request's place in the queue; `None` for a newcomer, which
    /// yields to every live waiter.
    pub waiter: Option<i64>,
    /// How long a waiter's place lives without another attempt.
    pub waiter_lease: Duration,
}

#[derive(Debug)]
pub struct SemaphoreGrant {
    pub holder: Holder,
    /// Live holders, this one included.
    pub holders: i64,
    pub limit: u16,
}

#[derive(Debug)]
pub enum SemaphoreOutcome {
    Granted(SemaphoreGrant),
    /// Every permit is held (or promised to earlier waiters).
    Full {
        holders: i64,
        limit: u16,
        waiters: i64,
    },
    /// The live semaphore has another limit.
    LimitMismatch {
        limit: u16,
    },
}

#[derive(Debug)]
pub struct SemaphoreAttempt {
    pub outcome: SemaphoreOutcome,
    /// Until the first live permit lapses, by the database clock.
    pub wake_in: Duration,
    /// Audit rows written: the grant and the expiry of holders it dropped.
    pub events: u64,
}

#[derive(sqlx::FromRow)]
pub(super) struct AcquireRow {
    pub(super) outcome: String,
    permits: i32,
    holders: i64,
    waiters: i64,
    wake_in_ms: f64,
    events: i64,
    fencing_token: Option<i64>,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    ttl_seconds: Option<i32>,
    acquired_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

/// Grants a permit unless the live holders, together with the live waiters
/// queued before this request, fill the limit. A limit unlike the live
/// semaphore's is refused; a semaphore without live holders takes the new
/// one. The row is locked first, so every judgement is on its latest
/// version; only a semaphore created by a concurrent statement makes this
/// one change nothing, and it runs again.
const ACQUIRE: &str = concat!(
    r#"
WITH current AS (
    SELECT holders, permits FROM semaphores WHERE namespace = $1 AND name = $2 FOR UPDATE
),
live AS (
    SELECT h.* FROM current c, unnest(c.holders) h WHERE h.expires_at > now()
),
lapsed AS (
    SELECT h.* FROM current c, unnest(c.holders) h WHERE h.expires_at <= now()
),
ahead AS (
    SELECT expires_at FROM lock_waiters
    WHERE namespace = $1 AND name = 'semaphore/' || $2 AND expires_at > now()
      AND ($13::bigint IS NULL OR id < $13)
),
verdict AS (
    SELECT CASE
        WHEN (SELECT count(*) FROM live) > 0 AND c.permits <> $10 THEN 'limit_mismatch'
        WHEN (SELECT count(*) FROM live) + (SELECT count(*) FROM ahead) >= $10 THEN 'full'
        WHEN c.permits IS NULL THEN 'new'
        ELSE 'granted'
    END AS outcome, c.permits
    FROM (SELECT) AS one LEFT JOIN current c ON true
),
permit AS (
    SELECT ROW($3, nextval('fencing_tokens'), $4, $5, $6, $7, $8, now(),
               now() + $8 * interval '1 second')::lease_holder AS h
    FROM verdict WHERE outcome IN ('new', 'granted')
),
updated AS (
    UPDATE semaphores s
    SET holders = ARRAY(SELECT l::lease_holder FROM live l) || p.h, permits = $10,
        expires_at = greatest((SELECT max(expires_at) FROM live), (p.h).expires_at)
    FROM permit p, verdict v
    WHERE v.outcome = 'granted' AND s.namespace = $1 AND s.name = $2
    RETURNING (p.h).*
),
inserted AS (
    INSERT INTO semaphores (namespace, name, permits, holders, expires_at)
    SELECT $1, $2, $10, ARRAY[p.h], (p.h).expires_at FROM permit p, verdict v WHERE v.outcome = 'new'
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
           $9, NULL, NULL, NULL, 'semaphore', NULL::uuid, 'shared'
    FROM lapsed l
    WHERE EXISTS (SELECT FROM updated)
    UNION ALL
    SELECT now(), 'acquired', $1, $2, fencing_token, $4, $5, owner, expires_at, $9, $3, $11::inet, NULL,
           'semaphore', NULL::uuid, 'shared'
    FROM granted
    RETURNING 1
),
"#,
    settle_attempt!("$13", "$5", "$12", "$14"),
    r#"
SELECT CASE WHEN v.outcome = 'new' AND g.fencing_token IS NULL THEN 'lost_race' ELSE v.outcome END
           AS outcome,
       CASE v.outcome WHEN 'limit_mismatch' THEN v.permits ELSE $10 END AS permits,
       (SELECT count(*) FROM live) + (SELECT count(*) FROM granted) AS holders,
       (SELECT count(*) FROM ahead) AS waiters,
       coalesce(extract(epoch FROM least((SELECT min(expires_at) FROM live),
                                         (SELECT min(expires_at) FROM ahead)) - now()) * 1000, 0)::float8
           AS wake_in_ms,
       (SELECT count(*) FROM recorded) AS events,
       g.fencing_token, g.owner, g.metadata, g.ttl_seconds, g.acquired_at, g.expires_at
FROM verdict v LEFT JOIN granted g ON true
"#
);

/// How often a statement that lost the race to create the semaphore runs
/// again; the next run finds the row and locks it.
const ATTEMPTS: usize = 4;

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %permit.namespace, name = %permit.name))]
pub async fn acquire(
    pool: &PgPool,
    permit: &NewPermit<'_>,
    actor: &Actor,
) -> Result<SemaphoreAttempt, StoreError> {
    for _ in 0..ATTEMPTS {
        let row: AcquireRow = sqlx::query_as(ACQUIRE)
            .bind(permit.namespace.as_str())
            .bind(permit.name.as_str())
            .bind(&permit.token.0[..])
            .bind(audit_account(actor))
            .bind(actor.audit_key_id())
            .bind(permit.owner.map(Owner::as_str))
            .bind(permit.metadata.map(|m| Json(m.as_raw())))
            .bind(permit.ttl.seconds() as i32)
            .bind(actor.request_id.as_deref())
            .bind(i32::from(permit.limit.get()))
            .bind(audit_addr(actor))
            .bind(permit.idempotency_key)
            .bind(permit.waiter)
            .bind(permit.waiter_lease.as_millis() as f64)
            .fetch_one(pool)
            .await?;
        if row.outcome != "lost_race" {
            return Ok(attempt(row, actor));
        }
        tracing::debug!("a concurrent acquire created the semaphore; retrying");
    }
    Err(StoreError::TimedOut)
}

pub(super) fn attempt(row: AcquireRow, actor: &Actor) -> SemaphoreAttempt {
    let wake_in = Duration::from_secs_f64(row.wake_in_ms.max(0.0) / 1000.0);
    let limit = row.permits as u16;
    let outcome = match (row.outcome.as_str(), row.fencing_token, row.acquired_at, row.expires_at) {
        ("new" | "granted", Some(fencing_token), Some(acquired_at), Some(expires_at)) => {
            SemaphoreOutcome::Granted(SemaphoreGrant {
                holder: Holder {
                    fencing_token,
                    account_id: audit_account(actor),
                    owner: row.owner,
                    metadata: row.metadata.map(|m| m.0),
                    ttl_seconds: row.ttl_seconds.unwrap_or_default(),
                    acquired_at,
                    expires_at,
                },
                holders: row.holders,
                limit,
            })
        }
        ("limit_mismatch", ..) => SemaphoreOutcome::LimitMismatch { limit },
        _ => SemaphoreOutcome::Full { holders: row.holders, limit, waiters: row.waiters },
    };
    SemaphoreAttempt { outcome, wake_in, events: row.events as u64 }
}
