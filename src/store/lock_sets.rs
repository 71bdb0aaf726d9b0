//! Lock sets: several locks granted together under one lock token, all or
//! none, in one statement. Members are ordinary rows of `locks`; the set
//! (`lock_sets`) names them, so that its token renews or releases them all.
//!
//! Every statement locks the members' rows in name order, so sets in flight
//! never wait for each other in a circle. A member created by a concurrent
//! statement after this one's snapshot is met only at the insert; if it
//! turns out held, the statement undoes itself (`leasehold_lost_race()`) and
//! runs again on a fresh snapshot.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::fragments::{notify_waiters, record_kind_events};
use super::locks::{audit_account, audit_addr, quota_param};
use super::StoreError;
use crate::domain::{Actor, LeaseEnd, LockName, LockTokenHash, NamespaceName, Owner, Ttl};

pub struct NewSet<'a> {
    pub namespace: &'a NamespaceName,
    /// Sorted, without duplicates.
    pub names: &'a [LockName],
    pub set_id: Uuid,
    pub token: &'a LockTokenHash,
    pub owner: Option<&'a Owner>,
    pub ttl: Ttl,
    pub idempotency_key: Option<&'a str>,
    /// The set's place in its first member's queue, once it waits.
    pub waiter: Option<i64>,
    pub waiter_lease: std::time::Duration,
    /// The account's plan's `max_live_locks`.
    pub max_live_locks: Option<u32>,
}

/// A member as granted, renewed or found held.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub name: String,
    pub fencing_token: i64,
    pub expires_at: DateTime<Utc>,
    pub ttl_seconds: i32,
}

#[derive(Debug)]
pub enum SetOutcome {
    Granted {
        members: Vec<Member>,
    },
    /// These members are held, or reserved for their waiters; nothing changed.
    Held {
        held: Vec<String>,
        retry_after: u32,
    },
    /// The members are free, but the account has no room for them all.
    OverQuota,
}

#[derive(sqlx::FromRow)]
struct SetRow {
    name: String,
    fencing_token: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    ttl_seconds: Option<i32>,
    wake_in_ms: f64,
    over_quota: bool,
}

const ACQUIRE: &str = concat!(
    r#"
WITH quota AS MATERIALIZED (
    SELECT lease_quota_room($4, $14, cardinality($2::text[])) AS room WHERE $14::integer IS NOT NULL
),
current AS (
    SELECT name, fencing_token, account_id, key_id, owner, expires_at, mode, holders FROM locks
    WHERE namespace = $1 AND name = ANY ($2::text[])
      -- The account's quota lock comes before the rows' (`lease_quota_room`).
      AND (SELECT count(*) FROM quota) >= 0
    ORDER BY name
    FOR UPDATE
),
blocked AS (
    SELECT name, expires_at FROM current WHERE expires_at > now()
    UNION ALL
    SELECT name, expires_at FROM lock_waiters
    WHERE namespace = $1 AND name = ANY ($2::text[]) AND expires_at > now()
      AND ($12::bigint IS NULL OR id < $12)
),
over_quota AS (
    SELECT FROM quota WHERE room < cardinality($2::text[]) AND NOT EXISTS (SELECT FROM blocked)
),
granted AS (
    INSERT INTO locks AS l (namespace, name, token_hash, fencing_token, account_id, key_id, owner,
                            ttl_seconds, acquired_at, expires_at)
    SELECT $1, n.name, $3, nextval('fencing_tokens'), $4, $5, $6, $7, now(), now() + $7 * interval '1 second'
    FROM unnest($2::text[]) AS n(name)
    WHERE NOT EXISTS (SELECT FROM blocked) AND NOT EXISTS (SELECT FROM over_quota)
    ORDER BY n.name
    ON CONFLICT (namespace, name) DO UPDATE
    SET token_hash = EXCLUDED.token_hash, fencing_token = nextval('fencing_tokens'),
        account_id = EXCLUDED.account_id, key_id = EXCLUDED.key_id, owner = EXCLUDED.owner,
        metadata = NULL, ttl_seconds = EXCLUDED.ttl_seconds, acquired_at = now(),
        expires_at = EXCLUDED.expires_at, compat_api = NULL, compat_secret_hash = NULL, compat_id = NULL,
        mode = 'exclusive', holders = NULL
    WHERE l.expires_at <= now()
    RETURNING l.name, l.fencing_token, l.expires_at, l.ttl_seconds, l.xmax = 0 AS inserted
),
checked AS (
    SELECT CASE
        WHEN NOT EXISTS (SELECT FROM blocked) AND NOT EXISTS (SELECT FROM over_quota)
         AND ((SELECT count(*) FROM granted) < cardinality($2::text[])
              OR EXISTS (SELECT FROM granted g
                         WHERE NOT g.inserted AND g.name NOT IN (SELECT name FROM current)))
        THEN leasehold_lost_race()
        ELSE 0
    END AS ok
),
set_row AS (
    INSERT INTO lock_sets (set_id, namespace, names, token_hash, account_id, expires_at)
    SELECT $9, $1, $2, $3, $4, now() + $7 * interval '1 second'
    WHERE EXISTS (SELECT FROM granted)
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', $1, c.name, c.fencing_token, c.account_id, c.key_id, c.owner, c.expires_at,
           $8, NULL::bytea, NULL::inet, NULL::text, 'lock', NULL::uuid, 'exclusive'
    FROM current c
    WHERE c.expires_at <= now() AND c.expires_at <> '-infinity' AND c.mode = 'exclusive'
      AND EXISTS (SELECT FROM granted)
    UNION ALL
    SELECT now(), 'expired', $1, c.name, h.fencing_token, h.account_id, h.key_id, h.owner, h.expires_at,
           $8, NULL, NULL, NULL, 'lock', NULL, 'shared'
    FROM current c, unnest(c.holders) h
    WHERE c.expires_at <= now() AND c.mode = 'shared' AND EXISTS (SELECT FROM granted)
    UNION ALL
    SELECT now(), 'acquired', $1, g.name, g.fencing_token, $4, $5, $6, g.expires_at, $8, $3, $10::inet,
           NULL, 'lock', $9, 'exclusive'
    FROM granted g
),
dequeued AS (
    DELETE FROM lock_waiters WHERE id = $12 AND EXISTS (SELECT FROM granted)
),
kept_in_queue AS (
    UPDATE lock_waiters
    SET expires_at = least(now() + $13 * interval '1 millisecond', deadline)
    WHERE id = $12 AND NOT EXISTS (SELECT FROM granted)
      AND expires_at < now() + $13 * interval '1 millisecond' / 2
),
completed AS (
    UPDATE idempotency_records
    SET completed_at = now(), fencing_token = (SELECT min(fencing_token) FROM granted)
    WHERE key_id = $5 AND idempotency_key = $11 AND EXISTS (SELECT FROM granted)
)
SELECT g.name, g.fencing_token, g.expires_at, g.ttl_seconds, 0::float8 AS wake_in_ms, false AS over_quota
FROM granted g, checked
UNION ALL
SELECT b.name, NULL, b.expires_at, NULL, extract(epoch FROM b.expires_at - now())::float8 * 1000, false
FROM blocked b, checked
UNION ALL
SELECT '', NULL, NULL, NULL, 0, true FROM over_quota
"#
);

/// How often a statement that lost a race (or a deadlock with a concurrent
/// statement locking in another order) runs again.
const ATTEMPTS: usize = 8;

#[tracing::instrument(level = "debug", skip_all, fields(namespace = %set.namespace, members = set.names.len()))]
pub async fn acquire(pool: &PgPool, set: &NewSet<'_>, actor: &Actor) -> Result<SetOutcome, StoreError> {
    let names: Vec<&str> = set.names.iter().map(LockName::as_str).collect();
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let rows = sqlx::query_as::<_, SetRow>(ACQUIRE)
            .bind(set.namespace.as_str())
            .bind(&names)
            .bind(&set.token.0[..])
            .bind(audit_account(actor))
            .bind(actor.audit_key_id())
            .bind(set.owner.map(Owner::as_str))
            .bind(set.ttl.seconds() as i32)
            .bind(actor.request_id.as_deref())
            .bind(set.set_id)
            .bind(audit_addr(actor))
            .bind(set.idempotency_key)
            .bind(set.waiter)
            .bind(set.waiter_lease.as_millis() as f64)
            .bind(set.max_live_locks.map(quota_param))
            .fetch_all(pool)
            .await;
        match rows {
            Ok(rows) => return Ok(outcome(rows)),
            Err(error) => {
                let error = StoreError::from(error);
                if !error.is_conflict() {
                    return Err(error);
                }
                tracing::debug!("a lock set lost a race with a concurrent change; retrying");
                last = Some(error);
            }
        }
    }
    Err(last.unwrap_or(StoreError::TimedOut))
}

fn outcome(rows: Vec<SetRow>) -> SetOutcome {
    if rows.iter().any(|r| r.over_quota) {
        return SetOutcome::OverQuota;
    }
    if rows.iter().all(|r| r.fencing_token.is_some()) {
        let members = rows
            .into_iter()
            .filter_map(|r| {
                let (fencing_token, expires_at, ttl_seconds) =
                    (r.fencing_token?, r.expires_at?, r.ttl_seconds?);
                Some(Member { name: r.name, fencing_token, expires_at, ttl_seconds })
            })
            .collect();
        return SetOutcome::Granted { members };
    }
    // When the last blocker lapses (by the database clock), at least 1 s.
    let wait_ms = rows.iter().map(|r| r.wake_in_ms).fold(0.0, f64::max);
    let retry_after = (wait_ms / 1000.0).ceil().max(1.0) as u32;
    let mut held: Vec<String> = rows.into_iter().map(|r| r.name).collect();
    held.sort();
    held.dedup();
    SetOutcome::Held { held, retry_after }
}

/// A set as the token that holds it sees it.
pub struct SetChange<'a> {
    pub namespace: &'a NamespaceName,
    pub set_id: Uuid,
    pub token: &'a LockTokenHash,
    pub actor: &'a Actor,
}

/// Extends every live member of the set $2 that $3 holds, to $7 seconds
/// (each member's own length when NULL).
const RENEW: &str = concat!(
    r#"
WITH set AS (
    SELECT names FROM lock_sets WHERE set_id = $2 AND namespace = $1 AND token_hash = $3
),
renewed AS (
    UPDATE locks l
    SET expires_at = now() + coalesce($7, l.ttl_seconds) * interval '1 second',
        ttl_seconds = coalesce($7, l.ttl_seconds)
    FROM set s
    WHERE l.namespace = $1 AND l.name = ANY (s.names) AND l.token_hash = $3 AND l.expires_at > now()
    RETURNING l.name, l.fencing_token, l.expires_at, l.ttl_seconds, l.owner
),
set_row AS (
    UPDATE lock_sets SET expires_at = (SELECT max(expires_at) FROM renewed)
    WHERE set_id = $2 AND EXISTS (SELECT FROM renewed)
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'renewed', $1, name, fencing_token, $4, $6, owner, expires_at, $5, NULL, NULL, NULL,
           'lock', $2, 'exclusive'
    FROM renewed
)
SELECT name, fencing_token, expires_at, ttl_seconds FROM renewed ORDER BY name
"#
);

/// Ends every live member of the set, waking their waiters, and forgets it.
const RELEASE: &str = concat!(
    r#"
WITH set AS (
    DELETE FROM lock_sets WHERE set_id = $2 AND namespace = $1 AND token_hash = $3 RETURNING names
),
released AS (
    UPDATE locks l
    SET expires_at = '-infinity'
    FROM set s
    WHERE l.namespace = $1 AND l.name = ANY (s.names) AND l.token_hash = $3 AND l.expires_at > now()
    RETURNING l.name, l.fencing_token, l.ttl_seconds, l.owner
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'released', $1, name, fencing_token, $4, $6, owner, now(), $5, NULL, NULL, NULL,
           'lock', $2, 'exclusive'
    FROM released
),
woken AS (
    SELECT "#,
    notify_waiters!("$1", "r.name"),
    r#"
    FROM released r
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = r.name AND w.expires_at > now())
)
SELECT name, fencing_token, now() AS expires_at, ttl_seconds FROM released
WHERE (SELECT count(*) FROM woken) >= 0
ORDER BY name
"#
);

/// The set's members renewed; empty when the token holds none of them.
pub async fn renew(
    pool: &PgPool,
    change: &SetChange<'_>,
    ttl: Option<Ttl>,
) -> Result<Vec<Member>, StoreError> {
    let members = sqlx::query_as(RENEW)
        .bind(change.namespace.as_str())
        .bind(change.set_id)
        .bind(&change.token.0[..])
        .bind(audit_account(change.actor))
        .bind(change.actor.request_id.as_deref())
        .bind(change.actor.audit_key_id())
        .bind(ttl.map(|t| t.seconds() as i32))
        .fetch_all(pool)
        .await?;
    Ok(members)
}

/// The set's members released; empty when the token holds none of them.
pub async fn release(pool: &PgPool, change: &SetChange<'_>) -> Result<Vec<Member>, StoreError> {
    let members = sqlx::query_as(RELEASE)
        .bind(change.namespace.as_str())
        .bind(change.set_id)
        .bind(&change.token.0[..])
        .bind(audit_account(change.actor))
        .bind(change.actor.request_id.as_deref())
        .bind(change.actor.audit_key_id())
        .fetch_all(pool)
        .await?;
    Ok(members)
}

/// The live members of the set `token` holds.
pub async fn find(
    pool: &PgPool,
    namespace: &NamespaceName,
    set_id: Uuid,
    token: &LockTokenHash,
) -> Result<Vec<Member>, StoreError> {
    let members = sqlx::query_as(
        "SELECT l.name, l.fencing_token, l.expires_at, l.ttl_seconds
         FROM lock_sets s JOIN locks l ON l.namespace = s.namespace AND l.name = ANY (s.names)
         WHERE s.set_id = $2 AND s.namespace = $1 AND s.token_hash = $3
           AND l.token_hash = $3 AND l.expires_at > now()
         ORDER BY l.name",
    )
    .bind(namespace.as_str())
    .bind(set_id)
    .bind(&token.0[..])
    .fetch_all(pool)
    .await?;
    Ok(members)
}

/// How the set `token` held ended, from its members' audit rows: a set
/// none of whose members was released lapsed.
pub async fn diagnose(
    pool: &PgPool,
    namespace: &NamespaceName,
    set_id: Uuid,
    token: &LockTokenHash,
) -> Result<LeaseEnd, StoreError> {
    let ended: Option<bool> = sqlx::query_scalar(
        "WITH ours AS (
             SELECT name FROM lock_events
             WHERE token_hash = $3 AND set_id = $2 AND namespace = $1 AND event = 'acquired'
             LIMIT 1
         )
         SELECT EXISTS (SELECT FROM lock_events e, ours
                        WHERE e.namespace = $1 AND e.name = ours.name AND e.set_id = $2
                          AND e.event = 'released')
         FROM ours",
    )
    .bind(namespace.as_str())
    .bind(set_id)
    .bind(&token.0[..])
    .fetch_optional(pool)
    .await?;
    Ok(match ended {
        None => LeaseEnd::UnknownToken,
        Some(true) => LeaseEnd::Released,
        Some(false) => LeaseEnd::Expired,
    })
}

/// Forgets sets whose every member lapsed over a minute ago.
pub async fn purge_lapsed(pool: &PgPool) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM lock_sets WHERE expires_at < now() - interval '1 minute'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
