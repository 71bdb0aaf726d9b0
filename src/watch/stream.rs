//! One open stream: its topic's events after the position it has covered,
//! from the audit trail while it catches up and from the feed after that.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;

use super::feed::{covered, Batch};
use super::{Place, Topic, Watchers};
use crate::store::audit::{self, AuditEvent, Position};
use crate::store::StoreError;

/// Events read by one page of a catch-up.
const CATCH_UP_PAGE: i64 = 500;

/// What a stream has next.
#[derive(Debug)]
pub enum Step {
    /// Events to send, in cursor order.
    Events(Vec<AuditEvent>),
    /// Nothing happened before the deadline.
    Quiet,
    /// The server is shutting down.
    Closed,
}

pub struct Watch {
    watchers: Arc<Watchers>,
    _place: Place,
    feed: Receiver<Arc<Batch>>,
    topic: Topic,
    /// Every event of the topic up to here has been sent or was not asked for.
    covered: Position,
    /// Whether to page the audit trail before taking the feed's batches.
    behind: bool,
    /// Events read when the stream was opened, not yet taken.
    first: Option<Vec<AuditEvent>>,
}

impl Watch {
    /// A stream of the events after `start`, taken from the feed.
    pub(super) fn from(
        watchers: Arc<Watchers>,
        place: Place,
        feed: Receiver<Arc<Batch>>,
        topic: Topic,
        start: Position,
    ) -> Self {
        Self { watchers, _place: place, feed, topic, covered: start, behind: false, first: None }
    }

    /// A stream resuming after `after`: its first page is read now.
    pub(super) async fn resuming(
        watchers: Arc<Watchers>,
        place: Place,
        feed: Receiver<Arc<Batch>>,
        topic: Topic,
        after: Position,
    ) -> Result<Self, StoreError> {
        let mut watch = Self::from(watchers, place, feed, topic, after);
        watch.behind = true;
        watch.first = Some(watch.catch_up().await?);
        Ok(watch)
    }

    /// The next events, or `Quiet` if none came by `deadline` (only waiting
    /// for the feed ends at the deadline: a page being read is finished).
    pub async fn next(&mut self, deadline: Instant) -> Result<Step, StoreError> {
        if let Some(events) = self.first.take().filter(|events| !events.is_empty()) {
            return Ok(Step::Events(events));
        }
        loop {
            if self.behind {
                let events = self.catch_up().await?;
                if !events.is_empty() {
                    return Ok(Step::Events(events));
                }
                continue;
            }
            let batch = tokio::select! {
                _ = self.watchers.closing.cancelled() => return Ok(Step::Closed),
                _ = tokio::time::sleep_until(deadline) => return Ok(Step::Quiet),
                received = self.feed.recv() => match received {
                    Ok(batch) => batch,
                    // Batches were dropped: the gap is read from the trail.
                    Err(RecvError::Lagged(_)) => {
                        self.behind = true;
                        continue;
                    }
                    Err(RecvError::Closed) => return Ok(Step::Closed),
                },
            };
            let events = self.take(&batch);
            if !events.is_empty() {
                return Ok(Step::Events(events));
            }
        }
    }

    /// The batch's events of this topic that were not sent yet. A batch
    /// that starts after `covered` would leave a gap: it is dropped and the
    /// trail read instead, which reaches at least as far (the horizon only
    /// moves forwards).
    fn take(&mut self, batch: &Batch) -> Vec<AuditEvent> {
        if batch.from > self.covered {
            self.behind = true;
            return Vec::new();
        }
        let events = batch
            .events
            .iter()
            .filter(|event| event.position() > self.covered && self.topic.matches(event))
            .cloned()
            .collect();
        self.covered = self.covered.max(batch.to);
        events
    }

    /// One page of the topic's events after `covered`, from the audit trail.
    async fn catch_up(&mut self) -> Result<Vec<AuditEvent>, StoreError> {
        let query = self.topic.query(self.covered, CATCH_UP_PAGE);
        let page = self.watchers.db(audit::search(&self.watchers.pool, &query)).await?;
        self.behind = page.events.len() as i64 >= CATCH_UP_PAGE;
        self.covered = covered(self.covered, &page, CATCH_UP_PAGE);
        Ok(page.events)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use sqlx::postgres::PgPoolOptions;

    use super::*;
    use crate::config::Settings;
    use crate::domain::{KeyId, LockName, NamespaceName, Plan, Principal, Role};

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_795_000_000_000_000 + micros).unwrap()
    }

    fn event(id: i64, micros: i64, name: &str, account_id: i64) -> AuditEvent {
        AuditEvent {
            id,
            occurred_at: at(micros),
            event: "acquired".into(),
            namespace: "acme".into(),
            name: name.into(),
            fencing_token: id,
            account_id,
            account: None,
            key_id: "0123456789abcdef".into(),
            owner: None,
            expires_at: at(micros),
            request_id: None,
            reason: None,
            kind: "lock".into(),
            mode: "exclusive".into(),
            set_id: None,
            note: None,
        }
    }

    /// A stream of lock `billing` for a client key of account 1, covered up
    /// to `covered`; its pool never connects.
    fn watch(covered: Position) -> Watch {
        let pool = PgPoolOptions::new().connect_lazy("postgres://localhost/never").unwrap();
        let watchers = Watchers::new(pool, Settings::defaults().watch, std::time::Duration::from_secs(1));
        let key = KeyId::parse("0123456789abcdef").unwrap();
        let caller = Principal {
            key_id: key.clone(),
            account_id: 1,
            plan: Plan::Business,
            role: Role::Client,
            namespace: NamespaceName::parse("acme").unwrap(),
        };
        let topic = Topic::lock(&caller.namespace, &LockName::parse("billing").unwrap(), &caller);
        let place = watchers.take_place(&key).unwrap();
        let feed = watchers.feed.subscribe();
        Watch::from(watchers, place, feed, topic, covered)
    }

    fn ids(events: &[AuditEvent]) -> Vec<i64> {
        events.iter().map(|e| e.id).collect()
    }

    #[tokio::test]
    async fn a_batch_gives_only_the_topics_events_after_what_was_covered() {
        let mut watch = watch(event(2, 20, "billing", 1).position());
        let events = vec![
            event(1, 10, "billing", 1),
            event(2, 20, "billing", 1),
            event(3, 20, "billing", 1),
            event(4, 30, "reports", 1),
            event(5, 30, "billing", 2),
            event(6, 40, "billing", 1),
        ];
        let batch = Batch { from: Position::before(at(15)), to: Position::before(at(50)), events };

        assert_eq!(ids(&watch.take(&batch)), [3, 6]);
        assert_eq!(watch.covered, Position::before(at(50)));
        assert!(!watch.behind);
    }

    #[tokio::test]
    async fn a_batch_that_starts_past_what_was_covered_sends_the_stream_to_the_trail() {
        let covered = Position::before(at(10));
        let mut watch = watch(covered);
        let batch = Batch {
            from: Position::before(at(20)),
            to: Position::before(at(30)),
            events: vec![event(7, 25, "billing", 1)],
        };

        assert!(watch.take(&batch).is_empty());
        assert!(watch.behind);
        assert_eq!(watch.covered, covered, "the gap is still to be read");
    }
}
