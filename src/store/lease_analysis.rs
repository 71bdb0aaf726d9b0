//! Support's lease analysis of an account or a namespace over the last
//! `days` UTC days (today included): how leases ended each day, how long they
//! were held, and which locks and keys let them lapse. Read from the audit
//! trail: a lease is the `acquired` event and the `released`, `expired` or
//! `force_released` event of the same lock and fencing token after it.
//!
//! Every statement reads the ends in the window through an index that starts
//! with the scope (`lock_events_account_time` or `lock_events_namespace_time`),
//! and finds a lease's start through `lock_events_lock_time`.

use chrono::NaiveDate;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{FromRow, PgExecutor, Postgres};

use super::StoreError;

/// Whose leases: one account's, or every lease in one namespace.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Account(i64),
    Namespace(&'a str),
}

/// The lease ends of the scope in the window (`$1` the scope, `$2` the days).
/// The filter is one of two constant fragments; values are always bound.
fn ends(scope: Scope<'_>) -> String {
    let filter = match scope {
        Scope::Account(_) => "e.account_id = $1",
        Scope::Namespace(_) => "e.namespace = $1",
    };
    format!(
        "WITH ends AS (
             SELECT e.event, e.namespace, e.name, e.fencing_token, e.account_id, e.key_id,
                    e.occurred_at, e.expires_at
             FROM lock_events e
             WHERE {filter} AND e.kind = 'lock'
               AND e.event IN ('released', 'expired', 'force_released')
               AND e.occurred_at >= (date_trunc('day', now() AT TIME ZONE 'UTC')
                                     - ($2::int - 1) * interval '1 day') AT TIME ZONE 'UTC'
         )"
    )
}

fn bind<'q, T>(sql: &'q str, scope: Scope<'q>, days: i32) -> QueryAs<'q, Postgres, T, PgArguments>
where
    T: for<'r> FromRow<'r, sqlx::postgres::PgRow>,
{
    let query = sqlx::query_as(sql);
    let query = match scope {
        Scope::Account(id) => query.bind(id),
        Scope::Namespace(name) => query.bind(name),
    };
    query.bind(days)
}

/// How the scope's leases ended on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct EndsOfDay {
    pub date: NaiveDate,
    pub released: i64,
    pub expired: i64,
    pub force_released: i64,
}

/// Every day of the window, oldest first, zeros where no lease ended.
pub async fn ends_by_day(
    ex: impl PgExecutor<'_>,
    scope: Scope<'_>,
    days: i32,
) -> Result<Vec<EndsOfDay>, StoreError> {
    let sql = format!(
        "{} SELECT d::date AS date,
                   count(*) FILTER (WHERE e.event = 'released') AS released,
                   count(*) FILTER (WHERE e.event = 'expired') AS expired,
                   count(*) FILTER (WHERE e.event = 'force_released') AS force_released
            FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($2::int - 1),
                                 (now() AT TIME ZONE 'UTC')::date, interval '1 day') AS d
            LEFT JOIN ends e ON (e.occurred_at AT TIME ZONE 'UTC')::date = d::date
            GROUP BY d ORDER BY d",
        ends(scope)
    );
    Ok(bind(&sql, scope, days).fetch_all(ex).await?)
}

/// Hold times, in seconds, of the leases that ended in the window and whose
/// start the trail still has: from acquiring to the release, or to the
/// expiry a lapsed lease had reached.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct HoldTimes {
    pub leases: i64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

pub async fn hold_times(
    ex: impl PgExecutor<'_>,
    scope: Scope<'_>,
    days: i32,
) -> Result<HoldTimes, StoreError> {
    let sql = format!(
        "{}, held AS (
             SELECT extract(epoch FROM
                        CASE WHEN e.event = 'expired' THEN least(e.expires_at, e.occurred_at)
                             ELSE e.occurred_at END - a.occurred_at)::float8 AS seconds
             FROM ends e
             CROSS JOIN LATERAL (
                 SELECT s.occurred_at FROM lock_events s
                 WHERE s.namespace = e.namespace AND s.name = e.name AND s.occurred_at <= e.occurred_at
                   AND s.fencing_token = e.fencing_token AND s.event = 'acquired' AND s.kind = 'lock'
                 ORDER BY s.occurred_at DESC LIMIT 1
             ) a
         )
         SELECT count(*) AS leases,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS p50,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) AS p90,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY seconds) AS p99,
                max(seconds) AS max
         FROM held",
        ends(scope)
    );
    Ok(bind(&sql, scope, days).fetch_one(ex).await?)
}

/// A lock whose leases lapsed, with how its other leases ended.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct LapsingLock {
    pub namespace: String,
    pub name: String,
    pub expired: i64,
    pub released: i64,
}

/// The `limit` locks with the most expired leases in the window, most first.
pub async fn lapsing_locks(
    ex: impl PgExecutor<'_>,
    scope: Scope<'_>,
    days: i32,
    limit: i64,
) -> Result<Vec<LapsingLock>, StoreError> {
    let sql = format!(
        "{} SELECT namespace, name,
                   count(*) FILTER (WHERE event = 'expired') AS expired,
                   count(*) FILTER (WHERE event = 'released') AS released
            FROM ends GROUP BY namespace, name
            HAVING count(*) FILTER (WHERE event = 'expired') > 0
            ORDER BY expired DESC, namespace, name LIMIT $3",
        ends(scope)
    );
    Ok(bind(&sql, scope, days).bind(limit).fetch_all(ex).await?)
}

/// A key whose leases lapsed (by id, never its secret), with its account.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct LapsingKey {
    pub key_id: String,
    pub account: Option<String>,
    pub expired: i64,
    pub released: i64,
}

/// The `limit` keys holding the most leases that expired, most first.
pub async fn lapsing_keys(
    ex: impl PgExecutor<'_>,
    scope: Scope<'_>,
    days: i32,
    limit: i64,
) -> Result<Vec<LapsingKey>, StoreError> {
    let sql = format!(
        "{}, by_key AS (
             SELECT key_id, account_id,
                    count(*) FILTER (WHERE event = 'expired') AS expired,
                    count(*) FILTER (WHERE event = 'released') AS released
             FROM ends GROUP BY key_id, account_id
             HAVING count(*) FILTER (WHERE event = 'expired') > 0
         )
         SELECT k.key_id, a.name AS account, k.expired, k.released
         FROM by_key k LEFT JOIN accounts a ON a.id = k.account_id
         ORDER BY k.expired DESC, k.key_id LIMIT $3",
        ends(scope)
    );
    Ok(bind(&sql, scope, days).bind(limit).fetch_all(ex).await?)
}
