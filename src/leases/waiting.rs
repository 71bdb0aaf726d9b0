//! Fair, bounded waiting for a held lock. A waiter takes a place in the
//! durable queue (`lock_waiters`), is granted only when no live waiter queued
//! before it, and sleeps between tries until a wake-up (LISTEN/NOTIFY) or the
//! moment the holder's lease (or a blocking waiter's place) lapses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::batch::Batcher;
use super::sets::Acquires;
use crate::domain::{Actor, LockMode, LockName, LockTokenHash, NamespaceName};
use crate::store::locks::batch::AcquireItem;
use crate::store::locks::{self, AcquireOptions, Acquired, Attempt, LeaseChange, NewLease};
use crate::store::{waiters, StoreError};
use crate::usage::UsageCounters;
use crate::wake::WakeHub;

#[derive(Clone)]
pub struct Waiting {
    pool: PgPool,
    hub: Arc<WakeHub>,
    place_lease: Duration,
    db_timeout: Duration,
    /// Group commit for first attempts, when it is on.
    sets: Option<Batcher<Acquires>>,
    /// Counts each wait that takes a place, for the daily usage rows.
    usage: Arc<UsageCounters>,
}

impl Waiting {
    pub(super) fn new(
        pool: PgPool,
        hub: Arc<WakeHub>,
        place_lease: Duration,
        db_timeout: Duration,
        sets: Option<Batcher<Acquires>>,
        usage: Arc<UsageCounters>,
    ) -> Self {
        Self { pool, hub, place_lease, db_timeout, sets, usage }
    }

    /// Acquires, waiting up to `wait` in arrival order behind earlier waiters.
    /// With no wait this is one fail-fast attempt.
    pub async fn acquire(
        &self,
        lease: &NewLease<'_>,
        actor: &Actor,
        wait: Duration,
        idempotency_key: Option<&str>,
    ) -> Result<Attempt, StoreError> {
        let mut options = AcquireOptions { waiter: None, idempotency_key, waiter_lease: self.place_lease };
        let first = match &self.sets {
            Some(sets) => self.bounded(sets.run(AcquireItem::new(lease, actor, idempotency_key))).await?,
            None => self.bounded(locks::acquire_with(&self.pool, lease, actor, &options)).await?,
        };
        // Over quota is no queue's to wait out.
        if wait.is_zero() || matches!(first.acquired, Acquired::Granted(_) | Acquired::OverQuota) {
            return Ok(first);
        }
        let deadline = Instant::now() + wait;
        let enqueue = waiters::enqueue(
            &self.pool,
            lease.namespace,
            lease.name.as_str(),
            LockMode::Exclusive,
            actor,
            wait,
            self.place_lease,
        );
        let mut place = Place::new(self.pool.clone(), self.bounded(enqueue).await?, lease, actor);
        self.count_wait(actor);
        let registration = self.hub.register(lease.namespace.as_str(), lease.name.as_str(), place.id);
        options.waiter = Some(place.id);
        loop {
            // notify_one stores a permit, so a wake-up that arrives while we
            // try is not lost.
            let attempt = match &self.sets {
                Some(sets) => {
                    let item = AcquireItem::new(lease, actor, idempotency_key)
                        .from_place(place.id, self.place_lease);
                    self.bounded(sets.run(item)).await?
                }
                None => self.bounded(locks::acquire_with(&self.pool, lease, actor, &options)).await?,
            };
            if matches!(attempt.acquired, Acquired::Granted(_)) {
                place.settle();
                return Ok(attempt);
            }
            let now = Instant::now();
            if now >= deadline || matches!(attempt.acquired, Acquired::OverQuota) {
                place.leave().await;
                return Ok(attempt);
            }
            // Try again when woken, in time to keep our place, and — if no
            // local waiter is ahead of us — a hair after the blocker lapses
            // by the database clock.
            let mut pause = (self.place_lease / 3).min(deadline - now);
            if registration.is_local_head() {
                pause = pause.min(attempt.wake_in + Duration::from_millis(1));
            }
            tokio::select! {
                _ = registration.signal.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Waits up to `wait` in the queue `queue` (a semaphore's, a lock set's
    /// first member's, a reader's lock's), as a `mode` waiter, after a first
    /// try failed: takes a place, and tries again
    /// from it when woken or when `wake_in` of the last try has passed,
    /// until a try is done or time is up. The place is given up when the
    /// wait ends, or when its caller drops it.
    pub(super) async fn in_line<T>(
        &self,
        namespace: &NamespaceName,
        queue: &str,
        mode: LockMode,
        actor: &Actor,
        wait: Duration,
        mut attempt: impl AsyncFnMut(i64) -> Result<Try<T>, StoreError>,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + wait;
        let enqueue = waiters::enqueue(&self.pool, namespace, queue, mode, actor, wait, self.place_lease);
        let place = QueuePlace { id: self.bounded(enqueue).await?, pool: self.pool.clone() };
        self.count_wait(actor);
        let registration = self.hub.register(namespace.as_str(), queue, place.id);
        loop {
            let tried = self.bounded(attempt(place.id)).await?;
            let now = Instant::now();
            if tried.done || now >= deadline {
                return Ok(tried.outcome);
            }
            let mut pause = (self.place_lease / 3).min(deadline - now);
            if registration.is_local_head() {
                pause = pause.min(tried.wake_in + Duration::from_millis(1));
            }
            tokio::select! {
                _ = registration.signal.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn count_wait(&self, actor: &Actor) {
        if let Some(account_id) = actor.account_id {
            self.usage.wait(account_id);
        }
    }

    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        crate::store::bounded(self.db_timeout, work).await
    }
}

/// What one try from a place in a queue gave: `done` ends the wait.
pub(super) struct Try<T> {
    pub outcome: T,
    pub done: bool,
    /// Until the blocker lapses, by the database clock.
    pub wake_in: Duration,
}

/// A place taken by `in_line`, given up when dropped (a granted try has
/// left the queue already; leaving again is harmless).
struct QueuePlace {
    id: i64,
    pool: PgPool,
}

impl Drop for QueuePlace {
    fn drop(&mut self) {
        let (id, pool) = (self.id, self.pool.clone());
        tokio::spawn(async move {
            if let Err(error) = waiters::leave(&pool, id).await {
                tracing::warn!(%error, "could not leave the queue; the place will lapse by itself");
            }
        });
    }
}

/// A place in the queue. Dropped unsettled — the client went away, or the
/// database failed mid-wait — it gives the place up, and releases the lease
/// if the last try was granted in that same moment, so that a grant nobody
/// will receive is never left to lapse.
struct Place {
    id: i64,
    pool: PgPool,
    namespace: NamespaceName,
    name: LockName,
    token: LockTokenHash,
    actor: Actor,
    settled: bool,
}

impl Place {
    fn new(pool: PgPool, id: i64, lease: &NewLease<'_>, actor: &Actor) -> Self {
        Self {
            id,
            pool,
            namespace: lease.namespace.clone(),
            name: lease.name.clone(),
            token: lease.token.clone(),
            actor: actor.clone(),
            settled: false,
        }
    }

    fn settle(&mut self) {
        self.settled = true;
    }

    async fn leave(&mut self) {
        self.settled = true;
        if let Err(error) = waiters::leave(&self.pool, self.id).await {
            tracing::warn!(%error, "could not leave the queue; the place will lapse by itself");
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Self { id, pool, namespace, name, token, actor, .. } = self;
        let (id, pool, namespace, name, token, actor) =
            (*id, pool.clone(), namespace.clone(), name.clone(), token.clone(), actor.clone());
        tokio::spawn(async move {
            let _ = waiters::leave(&pool, id).await;
            let change = LeaseChange::by_token(&namespace, &name, &token, &actor);
            if let Ok(Some(_)) = locks::release(&pool, &change).await {
                tracing::info!(%namespace, %name, "released a grant whose waiting client went away");
            }
        });
    }
}
