//! Statements over a row that keeps its holders in a `lease_holder[]`
//! array: a semaphore's permits and a shared lock's readers. Each locks the
//! row first (`FOR UPDATE`) and judges the holders of that locked version by
//! the database clock, so concurrent changes queue on the row rather than
//! work from a snapshot another has outdated. Rewriting the array drops the
//! holders whose lease lapsed and records their expiry in the same step.
//!
//! Parameters: $1 namespace, $2 name, $3 the holder's token hash, $4 the
//! acting account, $5 request id, $6 acting key, $7 (renew) the new length.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgPool;

use super::locks::audit_account;
use super::StoreError;
use crate::domain::{Actor, Holder, LockName, LockTokenHash, NamespaceName, Ttl};

/// A change to the holder `token` is: a semaphore's permit, a lock's reader.
pub struct HolderChange<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a LockName,
    pub token: &'a LockTokenHash,
    pub actor: &'a Actor,
}

/// A holder as the statements return it, with its semaphore's limit where
/// they select one.
#[derive(sqlx::FromRow)]
pub(crate) struct HolderRow {
    #[sqlx(default)]
    pub permits: i32,
    fencing_token: i64,
    account_id: i64,
    owner: Option<String>,
    metadata: Option<Json<Box<RawValue>>>,
    ttl_seconds: i32,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<HolderRow> for Holder {
    fn from(row: HolderRow) -> Self {
        Holder {
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

/// Runs a `renew_holder!` statement: the renewed holder, `None` when the
/// token holds no live one.
pub(crate) async fn renew(
    pool: &PgPool,
    sql: &'static str,
    change: &HolderChange<'_>,
    ttl: Option<Ttl>,
) -> Result<Option<HolderRow>, StoreError> {
    let row = sqlx::query_as(sql)
        .bind(change.namespace.as_str())
        .bind(change.name.as_str())
        .bind(&change.token.0[..])
        .bind(audit_account(change.actor))
        .bind(change.actor.request_id.as_deref())
        .bind(change.actor.audit_key_id())
        .bind(ttl.map(|t| t.seconds() as i32))
        .fetch_optional(pool)
        .await?;
    Ok(row)
}

/// Runs a `release_holder!` statement: whether the token held a live
/// holder, now ended.
pub(crate) async fn release(
    pool: &PgPool,
    sql: &'static str,
    change: &HolderChange<'_>,
) -> Result<bool, StoreError> {
    let events: i64 = sqlx::query_scalar(sql)
        .bind(change.namespace.as_str())
        .bind(change.name.as_str())
        .bind(&change.token.0[..])
        .bind(audit_account(change.actor))
        .bind(change.actor.request_id.as_deref())
        .bind(change.actor.audit_key_id())
        .fetch_one(pool)
        .await?;
    Ok(events > 0)
}

/// Renews the live holder $3 of a `$table` row (of `$kind`, its `$mode`
/// holders; `$only` narrows the rows) to $7 seconds (its own length when
/// NULL). Returns the renewed holder, and `$permits` as `permits`.
macro_rules! renew_holder {
    ($table:literal, $kind:literal, $mode:literal, $only:literal, $permits:literal) => {
        concat!(
            $crate::store::holders::locked_holder!($table, $only),
            r#"
renewed AS (
    SELECT ROW(m.token_hash, m.fencing_token, m.account_id, m.key_id, m.owner, m.metadata,
               coalesce($7, m.ttl_seconds), m.acquired_at,
               now() + coalesce($7, m.ttl_seconds) * interval '1 second')::lease_holder AS h
    FROM mine m
),
rewritten AS (
    SELECT ARRAY(SELECT CASE WHEN x.token_hash = $3 THEN r.h ELSE x::lease_holder END
                 FROM current c, unnest(c.holders) x
                 WHERE x.expires_at > now()) AS holders
    FROM renewed r
),
changed AS (
    UPDATE "#,
            $table,
            r#" t
    SET holders = w.holders, expires_at = (SELECT max(x.expires_at) FROM unnest(w.holders) x)
    FROM rewritten w, renewed r
    WHERE t.namespace = $1 AND t.name = $2
    RETURNING (r.h).*
),"#,
            $crate::store::holders::record_rewrite!("renewed", $kind, $mode),
            r#"
SELECT "#,
            $permits,
            r#" AS permits, c.fencing_token, c.account_id, c.owner, c.metadata, c.ttl_seconds,
       c.acquired_at, c.expires_at
FROM changed c
WHERE (SELECT count(*) FROM recorded) > 0
"#
        )
    };
}

/// Ends the live holder $3 of a `$table` row, waking the waiters of the
/// queue `$queue` (an SQL expression). A row left without live holders is
/// free (`expires_at = '-infinity'`). Returns the rows recorded.
macro_rules! release_holder {
    ($table:literal, $kind:literal, $mode:literal, $only:literal, $queue:literal) => {
        concat!(
            $crate::store::holders::locked_holder!($table, $only),
            r#"
rest AS (
    SELECT ARRAY(SELECT x::lease_holder FROM current c, unnest(c.holders) x
                 WHERE x.expires_at > now() AND x.token_hash <> $3) AS holders
    FROM mine
),
changed AS (
    UPDATE "#,
            $table,
            r#" t
    SET holders = r.holders,
        expires_at = coalesce((SELECT max(x.expires_at) FROM unnest(r.holders) x), '-infinity')
    FROM rest r, mine m
    WHERE t.namespace = $1 AND t.name = $2
    RETURNING m.fencing_token, m.owner, now() AS expires_at
),"#,
            $crate::store::holders::record_rewrite!("released", $kind, $mode),
            r#",
woken AS (
    SELECT "#,
            $crate::store::fragments::notify_waiters!("$1", $queue),
            r#"
    FROM changed
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = "#,
            $queue,
            r#" AND w.expires_at > now())
)
SELECT count(*) FROM recorded WHERE (SELECT count(*) FROM woken) >= 0
"#
        )
    };
}

/// The start of a statement that rewrites the holder $3 of a `$table` row:
/// the row locked, the live holder, and the holders whose lease lapsed.
macro_rules! locked_holder {
    ($table:literal, $only:literal) => {
        concat!(
            r#"
WITH current AS (
    SELECT holders FROM "#,
            $table,
            r#" WHERE namespace = $1 AND name = $2 "#,
            $only,
            r#" FOR UPDATE
),
mine AS (
    SELECT h.* FROM current c, unnest(c.holders) h WHERE h.token_hash = $3 AND h.expires_at > now()
),
lapsed AS (
    SELECT h.* FROM current c, unnest(c.holders) h WHERE h.expires_at <= now()
),
"#
        )
    };
}

/// The audit rows of a rewrite: `$event` for the holder in `changed`, and
/// the expiry of each lapsed holder dropped.
macro_rules! record_rewrite {
    ($event:literal, $kind:literal, $mode:literal) => {
        concat!(
            "
recorded AS (
    ",
            $crate::store::fragments::record_kind_events!(),
            "
    SELECT now(), 'expired', $1, $2, l.fencing_token, l.account_id, l.key_id, l.owner, l.expires_at,
           $5, NULL::bytea, NULL::inet, NULL::text, '",
            $kind,
            "', NULL::uuid, '",
            $mode,
            "'
    FROM lapsed l
    WHERE EXISTS (SELECT FROM changed)
    UNION ALL
    SELECT now(), '",
            $event,
            "', $1, $2, fencing_token, $4, $6, owner, expires_at, $5, NULL, NULL, NULL, '",
            $kind,
            "', NULL, '",
            $mode,
            "'
    FROM changed
    RETURNING 1
)"
        )
    };
}

pub(crate) use {locked_holder, record_rewrite, release_holder, renew_holder};
