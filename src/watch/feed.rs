//! The replica's one reader of new audit events: while any stream is open it
//! reads, a few times a second, every event settled since its last read, and
//! broadcasts them in cursor order to the streams.

use std::sync::Arc;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::Watchers;
use crate::store::audit::{self, AuditEvent, AuditQuery, Order, Page, Position};
use crate::store::StoreError;

/// Events read by one statement of the feed.
const FEED_PAGE: i64 = 1000;

/// Every event (of any tenant) that sorts in `(from, to]`, in cursor order.
/// Consecutive batches join up: a batch's `from` is the previous one's `to`,
/// except when the feed starts (again) from the horizon, with an empty batch.
#[derive(Debug)]
pub struct Batch {
    pub from: Position,
    pub to: Position,
    pub events: Vec<AuditEvent>,
}

/// Where the feed is: it has read every event up to `read`, and published
/// (the non-empty) batches up to `published`.
#[derive(Clone, Copy)]
struct Reading {
    published: Position,
    read: Position,
}

/// How far a settled page read after `after` reaches: to its last event if
/// it was full (more may follow), else to its horizon.
pub fn covered(after: Position, page: &Page, limit: i64) -> Position {
    match page.events.last() {
        Some(last) if page.events.len() as i64 >= limit => last.position(),
        _ => after.max(Position::before(page.horizon)),
    }
}

impl Watchers {
    /// Runs the feed until `stop`. With no stream open it forgets where it
    /// was, so that it never reads a backlog nobody waits for.
    pub async fn feed(self: Arc<Self>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.settings.poll_interval());
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut reading = None;
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if self.feed.receiver_count() == 0 {
                reading = None;
                continue;
            }
            match self.read_new(reading).await {
                Ok(now) => {
                    reading = Some(now);
                    failing = false;
                }
                Err(error) if !failing => {
                    tracing::warn!(%error, "the watch feed cannot read the audit trail; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Reads and publishes every event settled after `reading`. The first
    /// time, it starts from the current horizon and says so with an empty
    /// batch: a stream opened earlier reads what came before from the trail.
    async fn read_new(&self, reading: Option<Reading>) -> Result<Reading, StoreError> {
        let Some(mut reading) = reading else {
            let now = Position::before(self.db(audit::horizon(&self.pool)).await?);
            let _ = self.feed.send(Arc::new(Batch { from: now, to: now, events: Vec::new() }));
            return Ok(Reading { published: now, read: now });
        };
        loop {
            let query = AuditQuery {
                order: Order::Asc,
                after: Some(reading.read),
                limit: FEED_PAGE,
                ..Default::default()
            };
            let page = self.db(audit::search(&self.pool, &query)).await?;
            let full = page.events.len() as i64 >= FEED_PAGE;
            reading.read = covered(reading.read, &page, FEED_PAGE);
            if !page.events.is_empty() {
                let batch = Batch { from: reading.published, to: reading.read, events: page.events };
                // No receiver left is no error: the next tick starts afresh.
                let _ = self.feed.send(Arc::new(batch));
                reading.published = reading.read;
            }
            if !full {
                return Ok(reading);
            }
        }
    }
}
