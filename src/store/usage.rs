//! An account's usage: counts of its audit events, read from the trail
//! itself, so the lock hot path keeps no counter.

use chrono::NaiveDate;
use sqlx::PgExecutor;

use super::StoreError;

/// Today's (UTC) audit events of the account, counted by kind.
pub async fn today_by_event(
    ex: impl PgExecutor<'_>,
    account_id: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT event, count(*) FROM lock_events
         WHERE account_id = $1
           AND occurred_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
         GROUP BY event ORDER BY event",
    )
    .bind(account_id)
    .fetch_all(ex)
    .await?)
}

/// One account's use of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct UsageDay {
    pub date: NaiveDate,
    pub acquired: i64,
    pub renewed: i64,
    pub released: i64,
    pub expired: i64,
    pub force_released: i64,
    pub conflicts: i64,
    pub waits: i64,
    pub peak_live_locks: i64,
}

/// Every day from `from` to `to` (inclusive, oldest first), zeros where the
/// account did nothing.
pub async fn days(
    ex: impl PgExecutor<'_>,
    account_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageDay>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT d::date AS date,
                coalesce(u.acquired, 0) AS acquired, coalesce(u.renewed, 0) AS renewed,
                coalesce(u.released, 0) AS released, coalesce(u.expired, 0) AS expired,
                coalesce(u.force_released, 0) AS force_released,
                coalesce(u.conflicts, 0) AS conflicts, coalesce(u.waits, 0) AS waits,
                coalesce(u.peak_live_locks, 0) AS peak_live_locks
         FROM generate_series($2::date, $3::date, interval '1 day') AS d
         LEFT JOIN account_usage u ON u.account_id = $1 AND u.day = d::date
         ORDER BY d",
    )
    .bind(account_id)
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await?)
}
