//! Keeps the audit trail's monthly partitions: creates the coming months'
//! ahead of time (an insert into a month without a partition would fail) and
//! drops whole months past the retention period. Runs at start and then every
//! `audit.maintenance_interval_seconds`; any number of replicas may run it.
//! It also forgets expired console sessions.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::AuditSettings;
use crate::store::{console_sessions, partitions, StoreError};

pub async fn run(pool: PgPool, settings: AuditSettings, stop: CancellationToken) {
    let interval = Duration::from_secs(settings.maintenance_interval_seconds.max(1));
    loop {
        if let Err(error) = run_once(&pool, &settings).await {
            tracing::warn!(%error, "audit partition maintenance failed; will retry");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One round: create ahead, drop what retention no longer keeps, and forget
/// expired console sessions. Returns the partitions dropped.
pub async fn run_once(pool: &PgPool, settings: &AuditSettings) -> Result<Vec<String>, StoreError> {
    let created = partitions::create_ahead(pool, settings.months_ahead).await?;
    if created > 0 {
        tracing::info!(created, "created audit partitions ahead");
    }
    let dropped = partitions::drop_expired(pool, settings.retention_days).await?;
    for partition in &dropped {
        tracing::info!(%partition, "dropped an audit partition past retention");
    }
    console_sessions::delete_expired(pool).await?;
    Ok(dropped)
}
