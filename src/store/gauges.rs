//! Figures about the leases as a whole, read when `/metrics` is scraped.

use sqlx::PgPool;

use super::StoreError;

pub struct LeaseGauges {
    /// Leases live by the database clock.
    pub live: i64,
    /// Places held in the queues of waiting acquires.
    pub waiters: i64,
    /// How long ago the oldest lease not yet swept lapsed; 0 when none waits.
    pub oldest_lapsed_seconds: f64,
}

/// One pass over `locks`: cheap beside a scrape interval, never per request.
pub async fn lease_gauges(pool: &PgPool) -> Result<LeaseGauges, StoreError> {
    let (live, oldest_lapsed_seconds, waiters): (i64, f64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE expires_at > now()),
                coalesce(extract(epoch FROM now() - min(expires_at)
                    FILTER (WHERE expires_at <= now() AND expires_at <> '-infinity')), 0)::float8,
                (SELECT count(*) FROM lock_waiters WHERE expires_at > now())
         FROM locks",
    )
    .fetch_one(pool)
    .await?;
    Ok(LeaseGauges { live, waiters, oldest_lapsed_seconds })
}
