//! An account's usage: counts of its audit events, read from the trail
//! itself, so the lock hot path keeps no counter.

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
