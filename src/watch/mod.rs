//! Watching the audit trail as it grows: the service behind `GET {lock}/events`
//! and `GET /v1/namespaces/{namespace}/events`.
//!
//! One feed per replica ([`feed`]) reads the events that settled since its
//! last read, a few times a second while any stream is open, and fans them
//! out through a broadcast channel; each stream ([`stream`]) keeps its
//! topic's. A stream that resumes from a cursor first pages through the audit
//! trail, then joins the feed. Database connections are borrowed for one
//! statement at a time: no stream holds one.
//!
//! # Why a stream misses nothing and repeats nothing
//!
//! Both the feed and the streams read with the audit store's settled pages
//! (`store::audit`): an ascending page after a position returns every event
//! of its filter from there up to the page's last event, or, when the page
//! was not full, up to its settled horizon. So each read *covers* a range of
//! positions, and each of the feed's batches says which: every event in
//! `(from, to]` is in it, and consecutive batches join up (`from` is the
//! previous batch's `to`). When the feed starts, or starts again after a
//! time without streams, it reads from the current horizon and announces
//! that with an empty batch.
//!
//! A stream keeps one position, `covered`: every event of its topic up to
//! there has been sent (or precedes where the client asked to start). It
//! sends an event only if the event sorts after `covered`, which then moves
//! on; so nothing is sent twice, and everything is sent in cursor order. A
//! batch that starts after `covered` would leave a gap, as would batches lost
//! to a lagging receiver: the stream then pages the audit trail from
//! `covered` up to the current horizon before taking batches again. A stream
//! subscribes to the feed before its first read, so every batch published
//! after that read reaches it; batches published before it end at or before
//! that read's horizon, which the stream starts from (the horizon never moves
//! backwards).

pub mod feed;
pub mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::WatchSettings;
use crate::domain::{KeyId, LockName, NamespaceName, Principal};
use crate::store::audit::{self, AuditEvent, AuditQuery, Order, Position};
use crate::store::{self, StoreError};
use feed::Batch;
pub use stream::{Step, Watch};

/// Batches a stream may fall behind by before it pages the trail instead.
const FEED_CAPACITY: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("this key already has {0} open streams on this server; close one first")]
    TooManyStreams(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a stream follows: one namespace's events, or one lock's, as the
/// caller may read them in the audit trail.
#[derive(Debug, Clone)]
pub struct Topic {
    namespace: String,
    name: Option<String>,
    /// Only a lock's, not a semaphore's of the same name.
    kind: Option<&'static str>,
    only_account_id: Option<i64>,
}

impl Topic {
    /// Every event in `namespace` that `caller` may read.
    pub fn namespace(namespace: &NamespaceName, caller: &Principal) -> Self {
        let namespace = namespace.as_str().to_owned();
        Self { namespace, name: None, kind: None, only_account_id: caller.audit_account() }
    }

    /// The events of one lock (not of a semaphore that shares its name).
    pub fn lock(namespace: &NamespaceName, name: &LockName, caller: &Principal) -> Self {
        let name = Some(name.as_str().to_owned());
        Self { name, kind: Some("lock"), ..Self::namespace(namespace, caller) }
    }

    fn matches(&self, event: &AuditEvent) -> bool {
        event.namespace == self.namespace
            && self.name.as_ref().is_none_or(|name| event.name == *name)
            && self.kind.is_none_or(|kind| event.kind == kind)
            && self.only_account_id.is_none_or(|account| event.account_id == account)
    }

    /// The audit query of the same events, ascending after `after`.
    fn query(&self, after: Position, limit: i64) -> AuditQuery {
        AuditQuery {
            namespace: Some(self.namespace.clone()),
            name: self.name.clone(),
            kind: self.kind,
            only_account_id: self.only_account_id,
            order: Order::Asc,
            after: Some(after),
            limit,
            ..AuditQuery::default()
        }
    }
}

/// The replica's streams: the feed's sending end, and how many streams
/// each key has open.
pub struct Watchers {
    pool: PgPool,
    db_timeout: Duration,
    settings: WatchSettings,
    feed: broadcast::Sender<Arc<Batch>>,
    open: Mutex<HashMap<KeyId, usize>>,
    /// Cancelled when the server shuts down: every stream ends, so that
    /// in-flight requests can finish.
    closing: CancellationToken,
}

impl Watchers {
    pub fn new(pool: PgPool, settings: WatchSettings, db_timeout: Duration) -> Arc<Self> {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let (open, closing) = (Mutex::default(), CancellationToken::new());
        Arc::new(Self { pool, db_timeout, settings, feed, open, closing })
    }

    pub fn keep_alive(&self) -> Duration {
        self.settings.keep_alive()
    }

    /// Ends every stream; new ones end at once.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Opens a stream of `topic` for `key`: the events after `after`, or
    /// those that settle from now on. Its first read happens here, so that an
    /// unavailable database is an error rather than an empty stream.
    pub async fn open(
        self: &Arc<Self>,
        key: &KeyId,
        topic: Topic,
        after: Option<Position>,
    ) -> Result<Watch, WatchError> {
        let place = self.take_place(key)?;
        // Subscribed before the first read, so that no batch published
        // after that read can be missed.
        let receiver = self.feed.subscribe();
        let watch = match after {
            Some(after) => Watch::resuming(self.clone(), place, receiver, topic, after).await?,
            None => {
                let now = Position::before(self.db(audit::horizon(&self.pool)).await?);
                Watch::from(self.clone(), place, receiver, topic, now)
            }
        };
        Ok(watch)
    }

    async fn db<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        store::bounded(self.db_timeout, work).await
    }

    fn take_place(self: &Arc<Self>, key: &KeyId) -> Result<Place, WatchError> {
        let limit = self.settings.max_streams_per_key;
        let mut open = self.open.lock().expect("not poisoned");
        let count = open.entry(key.clone()).or_default();
        if *count >= limit {
            return Err(WatchError::TooManyStreams(limit));
        }
        *count += 1;
        Ok(Place { watchers: self.clone(), key: key.clone() })
    }
}

/// One open stream's place in its key's count; dropping it frees the place.
pub struct Place {
    watchers: Arc<Watchers>,
    key: KeyId,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.watchers.open.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}
