//! Brings the daily usage rows up to date, every `usage.rollup_interval_seconds`
//! on every replica: writes the conflicts and waits this replica counted,
//! then, on whichever replica takes the watermark, counts the audit events
//! that settled since (a day's worth a pass, passes back to back while it is
//! behind) and samples each account's live locks into today's peak. A
//! database outage skips a round; the next one catches up.

use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::UsageCounters;
use crate::config::UsageSettings;
use crate::store::usage::{self, Window};
use crate::store::{audit, StoreError};

/// A pass may count a whole day of a busy trail: more than a request's
/// statement timeout, and off the lock path.
const PASS_STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = '60s'";

pub async fn run(
    pool: PgPool,
    settings: UsageSettings,
    counters: Arc<UsageCounters>,
    stop: CancellationToken,
) {
    let interval = settings.rollup_interval();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        flush(&pool, &counters).await;
        catch_up(&pool, &stop).await;
    }
    // A graceful stop keeps what was counted since the last round.
    flush(&pool, &counters).await;
}

/// Adds this replica's conflicts and waits to today's rows; puts them back
/// to try again next round if the write fails.
pub async fn flush(pool: &PgPool, counters: &UsageCounters) {
    let taken = counters.take();
    if taken.is_empty() {
        return;
    }
    let accounts: Vec<i64> = taken.keys().copied().collect();
    let conflicts: Vec<i64> = accounts.iter().map(|a| taken[a].conflicts).collect();
    let waits: Vec<i64> = accounts.iter().map(|a| taken[a].waits).collect();
    if let Err(error) = usage::add_tallies(pool, &accounts, &conflicts, &waits).await {
        tracing::warn!(%error, "could not write conflicts and waits; will retry");
        counters.put_back(taken);
    }
}

/// Passes until the watermark is within the settled horizon, another replica
/// holds it, or a pass fails.
async fn catch_up(pool: &PgPool, stop: &CancellationToken) {
    while !stop.is_cancelled() {
        match pass(pool).await {
            Ok(Some(window)) if window.behind => {
                tracing::info!(counted_until = %window.until, "usage rollup catching up");
            }
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, "usage rollup failed; will retry");
                return;
            }
        }
    }
}

/// One pass, one transaction: takes the watermark (`None`: another replica
/// has it), counts the events from it to the settled horizon (at most a
/// day), moves it, and samples live locks. The horizon is read first, in a
/// statement of its own, so every event stamped before it is visible to the
/// counting statement and none can appear there later (see
/// `store::audit`): each event is counted exactly once.
pub async fn pass(pool: &PgPool) -> Result<Option<Window>, StoreError> {
    let horizon = audit::horizon(pool).await?;
    let mut tx = pool.begin().await?;
    sqlx::query(PASS_STATEMENT_TIMEOUT).execute(&mut *tx).await?;
    let Some(window) = usage::claim_window(&mut *tx, horizon).await? else {
        return Ok(None);
    };
    usage::count_events(&mut *tx, &window).await?;
    usage::advance(&mut *tx, window.until).await?;
    usage::sample_peaks(&mut *tx).await?;
    tx.commit().await?;
    Ok(Some(window))
}
