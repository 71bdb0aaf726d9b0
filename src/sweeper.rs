//! Deletes lapsed leases in bounded batches and records their expiry. A lapsed
//! lease is already free to acquire; sweeping keeps the table small and the
//! audit trail complete. Any number of replicas may sweep at once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::SweeperSettings;
use crate::metrics::Metrics;
use crate::store::{lock_sets, semaphores, sweep};

pub async fn run(pool: PgPool, settings: SweeperSettings, stop: CancellationToken, metrics: Arc<Metrics>) {
    let interval = Duration::from_millis(settings.interval_ms);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        sweep_all(&pool, settings.batch_size, &stop, &metrics).await;
        sweep_semaphores(&pool, settings.batch_size, &stop, &metrics).await;
    }
}

/// Drops lapsed permits from semaphores, batch by batch, recording each
/// expiry.
async fn sweep_semaphores(pool: &PgPool, batch: i64, stop: &CancellationToken, metrics: &Metrics) {
    while !stop.is_cancelled() {
        match semaphores::sweep(pool, batch.max(1)).await {
            Ok(0) => return,
            Ok(swept) => {
                metrics.swept(swept);
                tracing::debug!(swept, "swept lapsed semaphore permits");
            }
            Err(error) => {
                tracing::warn!(%error, "semaphore sweep failed; will retry");
                return;
            }
        }
    }
}

/// The most lapsed leases one pass over the table collects.
const PASS_LIMIT: i64 = 100_000;

/// Finds what has lapsed in one pass over the table, then sweeps it batch by
/// batch by primary key, so an expiry storm costs one scan rather than one
/// per batch, and each batch's transaction stays short.
async fn sweep_all(pool: &PgPool, batch: i64, stop: &CancellationToken, metrics: &Metrics) {
    loop {
        let keys = match sweep::lapsed_keys(pool, PASS_LIMIT).await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(%error, "looking for lapsed leases failed; will retry");
                return;
            }
        };
        for chunk in keys.chunks(batch.max(1) as usize) {
            if stop.is_cancelled() {
                return;
            }
            match sweep::sweep_keys(pool, chunk).await {
                Ok(0) => {}
                Ok(swept) => {
                    metrics.swept(swept);
                    tracing::debug!(swept, "swept lapsed leases");
                }
                Err(error) => {
                    tracing::warn!(%error, "sweep failed; will retry");
                    return;
                }
            }
        }
        if (keys.len() as i64) < PASS_LIMIT {
            return;
        }
    }
}

/// Every minute, forgets lapsed waiter places and Idempotency-Key records
/// past their retention.
pub async fn tidy(pool: PgPool, retention_hours: u32, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        if let Err(error) = sweep::purge_lapsed_waiters(&pool).await {
            tracing::warn!(%error, "could not purge lapsed waiters");
        }
        if let Err(error) = lock_sets::purge_lapsed(&pool).await {
            tracing::warn!(%error, "could not purge lapsed lock sets");
        }
        while let Ok(purged) = sweep::purge_idempotency_records(&pool, retention_hours, 1000).await {
            if purged < 1000 || stop.is_cancelled() {
                break;
            }
        }
    }
}
