//! An account's usage: counts of its audit events, read from the trail
//! itself or rolled up from it into daily rows behind a watermark (see
//! `crate::usage`), so the lock hot path keeps no counter.

use chrono::{DateTime, NaiveDate, Utc};
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

/// The rollup's next span of the audit trail: events that occurred from
/// `start` (inclusive) to `until` (exclusive). `behind` when the day cap,
/// not the settled horizon, ended it: another pass follows at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub behind: bool,
}

/// Claims the rollup for the caller's transaction and says what it counts:
/// from the watermark up to `horizon` (`store::audit::horizon`, read
/// before), at most a day. `None` when another replica's transaction holds
/// the watermark: it is rolling up.
pub async fn claim_window(
    ex: impl PgExecutor<'_>,
    horizon: DateTime<Utc>,
) -> Result<Option<Window>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT counted_until AS start,
                greatest(counted_until, least($1, counted_until + interval '1 day')) AS until,
                counted_until + interval '1 day' < $1 AS behind
         FROM usage_rollup FOR UPDATE SKIP LOCKED",
    )
    .bind(horizon)
    .fetch_optional(ex)
    .await?)
}

/// Adds the window's audit events to the days they occurred on (UTC), by
/// account and kind; `verified` events are not usage. Rows are written in
/// key order. Returns the account-days touched.
pub async fn count_events(ex: impl PgExecutor<'_>, window: &Window) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "INSERT INTO account_usage (account_id, day, acquired, renewed, released, expired, force_released)
         SELECT e.account_id, (e.occurred_at AT TIME ZONE 'UTC')::date,
                count(*) FILTER (WHERE e.event = 'acquired'),
                count(*) FILTER (WHERE e.event = 'renewed'),
                count(*) FILTER (WHERE e.event = 'released'),
                count(*) FILTER (WHERE e.event = 'expired'),
                count(*) FILTER (WHERE e.event = 'force_released')
         FROM lock_events e
         WHERE e.occurred_at >= $1 AND e.occurred_at < $2
           AND e.event IN ('acquired', 'renewed', 'released', 'expired', 'force_released')
           AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id)
         GROUP BY 1, 2
         ORDER BY 1, 2
         ON CONFLICT (account_id, day) DO UPDATE SET
             acquired = account_usage.acquired + EXCLUDED.acquired,
             renewed = account_usage.renewed + EXCLUDED.renewed,
             released = account_usage.released + EXCLUDED.released,
             expired = account_usage.expired + EXCLUDED.expired,
             force_released = account_usage.force_released + EXCLUDED.force_released",
    )
    .bind(window.start)
    .bind(window.until)
    .execute(ex)
    .await?;
    Ok(done.rows_affected())
}

/// Moves the watermark: events before `until` are counted.
pub async fn advance(ex: impl PgExecutor<'_>, until: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE usage_rollup SET counted_until = $1").bind(until).execute(ex).await?;
    Ok(())
}

/// Raises today's (UTC) peak of every account holding live leases now to
/// the number it holds: exclusive locks, readers of shared locks and
/// semaphore permits.
pub async fn sample_peaks(ex: impl PgExecutor<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_usage (account_id, day, peak_live_locks)
         SELECT live.account_id, (now() AT TIME ZONE 'UTC')::date, count(*)
         FROM (SELECT account_id FROM locks WHERE mode = 'exclusive' AND expires_at > now()
               UNION ALL
               SELECT h.account_id FROM locks l, unnest(l.holders) h
               WHERE l.mode = 'shared' AND l.expires_at > now() AND h.expires_at > now()
               UNION ALL
               SELECT h.account_id FROM semaphores s, unnest(s.holders) h
               WHERE s.expires_at > now() AND h.expires_at > now()) AS live
         WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = live.account_id)
         GROUP BY 1
         ORDER BY 1
         ON CONFLICT (account_id, day) DO UPDATE SET
             peak_live_locks = greatest(account_usage.peak_live_locks, EXCLUDED.peak_live_locks)",
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// Adds conflicts and waits counted in a replica's memory to today's (UTC)
/// rows: `accounts[i]` had `conflicts[i]` and `waits[i]`.
pub async fn add_tallies(
    ex: impl PgExecutor<'_>,
    accounts: &[i64],
    conflicts: &[i64],
    waits: &[i64],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_usage (account_id, day, conflicts, waits)
         SELECT t.account_id, (now() AT TIME ZONE 'UTC')::date, t.conflicts, t.waits
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS t(account_id, conflicts, waits)
         WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.account_id)
         ORDER BY 1
         ON CONFLICT (account_id, day) DO UPDATE SET
             conflicts = account_usage.conflicts + EXCLUDED.conflicts,
             waits = account_usage.waits + EXCLUDED.waits",
    )
    .bind(accounts)
    .bind(conflicts)
    .bind(waits)
    .execute(ex)
    .await?;
    Ok(())
}

/// Today's date (UTC) by the database clock.
pub async fn today(ex: impl PgExecutor<'_>) -> Result<NaiveDate, StoreError> {
    Ok(sqlx::query_scalar("SELECT (now() AT TIME ZONE 'UTC')::date").fetch_one(ex).await?)
}
