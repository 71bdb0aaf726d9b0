//! Monthly partitions of `lock_events`: created ahead, dropped after the
//! retention period. The DDL lives in SQL functions (see the migration that
//! partitioned the table); these calls serialize replicas on an advisory lock
//! and give up quickly rather than queue behind long queries, because a
//! waiting DDL lock would stall every lock operation's audit insert.

use sqlx::PgPool;

use super::StoreError;

/// Any constant will do: it names the maintenance lock.
const MAINTENANCE_LOCK: i64 = 0x6c65_6173_6568_6f6c;

/// Creates the monthly partitions from this month through `months_ahead`
/// months from now; returns how many were created.
pub async fn create_ahead(pool: &PgPool, months_ahead: u32) -> Result<i32, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL lock_timeout = '2s'").execute(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MAINTENANCE_LOCK).execute(&mut *tx).await?;
    let created: i32 = sqlx::query_scalar(
        "SELECT lock_events_create_partitions(now(), now() + make_interval(months => $1))",
    )
    .bind(months_ahead as i32)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Drops every partition whose month ended more than `retention_days` ago;
/// returns the names of those dropped.
pub async fn drop_expired(pool: &PgPool, retention_days: u32) -> Result<Vec<String>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL lock_timeout = '2s'").execute(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MAINTENANCE_LOCK).execute(&mut *tx).await?;
    let dropped: Vec<String> =
        sqlx::query_scalar("SELECT lock_events_drop_partitions_before(now() - make_interval(days => $1))")
            .bind(retention_days as i32)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(dropped)
}

/// The partitions there are, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'lock_events'::regclass ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await?)
}
