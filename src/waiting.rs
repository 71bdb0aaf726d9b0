//! Fair, bounded waiting for a held lock. A waiter takes a place in the
//! durable queue (`lock_waiters`), is granted only when no live waiter queued
//! before it, and sleeps between tries until a wake-up (LISTEN/NOTIFY) or the
//! moment the holder's lease (or a blocking waiter's place) lapses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::domain::{LockName, LockTokenHash, NamespaceName, Principal};
use crate::store::locks::{self, AcquireOptions, Acquired, Actor, Attempt, NewLease};
use crate::store::{waiters, StoreError};
use crate::wake::WakeHub;

#[derive(Clone)]
pub struct Waiting {
    pool: PgPool,
    hub: Arc<WakeHub>,
    place_lease: Duration,
    db_timeout: Duration,
}

impl Waiting {
    pub fn new(pool: PgPool, hub: Arc<WakeHub>, place_lease: Duration, db_timeout: Duration) -> Self {
        Self { pool, hub, place_lease, db_timeout }
    }

    /// Acquires, waiting up to `wait` in arrival order behind earlier waiters.
    /// With no wait this is one fail-fast attempt.
    pub async fn acquire(
        &self,
        lease: &NewLease<'_>,
        actor: Actor<'_>,
        wait: Duration,
        idempotency_key: Option<&str>,
    ) -> Result<Attempt, StoreError> {
        let mut options = AcquireOptions { waiter: None, idempotency_key, waiter_lease: self.place_lease };
        let first = self.bounded(locks::acquire_with(&self.pool, lease, actor, &options)).await?;
        if wait.is_zero() || matches!(first.acquired, Acquired::Granted(_)) {
            return Ok(first);
        }
        let deadline = Instant::now() + wait;
        let enqueue =
            waiters::enqueue(&self.pool, lease.namespace, lease.name, actor, wait, self.place_lease);
        let mut place = Place::new(self.pool.clone(), self.bounded(enqueue).await?, lease, actor);
        let registration = self.hub.register(lease.namespace.as_str(), lease.name.as_str(), place.id);
        options.waiter = Some(place.id);
        loop {
            // notify_one stores a permit, so a wake-up that arrives while we
            // try is not lost.
            let attempt = self.bounded(locks::acquire_with(&self.pool, lease, actor, &options)).await?;
            if matches!(attempt.acquired, Acquired::Granted(_)) {
                place.settle();
                return Ok(attempt);
            }
            let now = Instant::now();
            if now >= deadline {
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

    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.db_timeout, work).await.unwrap_or(Err(StoreError::TimedOut))
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
    principal: Principal,
    request_id: Option<String>,
    settled: bool,
}

impl Place {
    fn new(pool: PgPool, id: i64, lease: &NewLease<'_>, actor: Actor<'_>) -> Self {
        Self {
            id,
            pool,
            namespace: lease.namespace.clone(),
            name: lease.name.clone(),
            token: lease.token.clone(),
            principal: actor.principal.clone(),
            request_id: actor.request_id.map(str::to_owned),
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
        let Self { id, pool, namespace, name, token, principal, request_id, .. } = self;
        let (id, pool, namespace, name, token) =
            (*id, pool.clone(), namespace.clone(), name.clone(), token.clone());
        let (principal, request_id) = (principal.clone(), request_id.clone());
        tokio::spawn(async move {
            let _ = waiters::leave(&pool, id).await;
            let actor = Actor { principal: &principal, request_id: request_id.as_deref() };
            if let Ok(Some(_)) = locks::release(&pool, &namespace, &name, &token, actor).await {
                tracing::info!(%namespace, %name, "released a grant whose waiting client went away");
            }
        });
    }
}
