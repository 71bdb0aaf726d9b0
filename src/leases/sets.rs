//! The operations that go through group commit (`batch`): acquires (a
//! newcomer's, or a waiter's try from its place), and renewals, releases
//! and handovers by lock token; and semaphore acquires and releases. A set of one runs the
//! one-request statement, so a lone request costs what it did before.

use sqlx::PgPool;

use super::batch::{Batcher, Kind};
use crate::domain::Lock;
use crate::metrics::Metrics;
use crate::store::handover::{self, HandoverItem};
use crate::store::locks::batch::{self, AcquireItem, ChangeItem, RELEASE_MANY, RENEW_MANY};
use crate::store::locks::{self, Acquired, Attempt};
use crate::store::semaphores::{self, PermitItem, PermitRelease, SemaphoreAttempt};
use crate::store::StoreError;

/// How the sets are formed.
#[derive(Debug, Clone, Copy)]
pub struct SetSettings {
    /// The most operations in one statement.
    pub max_set: usize,
    /// Statements of one kind in flight at once.
    pub in_flight: usize,
}

/// A queue and its workers for each kind.
#[derive(Clone)]
pub struct Sets {
    pub(super) acquires: Batcher<Acquires>,
    pub(super) renewals: Batcher<Renewals>,
    pub(super) releases: Batcher<Releases>,
    pub(super) handovers: Batcher<Handovers>,
    pub(super) permits: Batcher<Permits>,
    pub(super) permit_releases: Batcher<PermitReleases>,
}

impl Sets {
    pub fn start(pool: &PgPool, settings: SetSettings, metrics: &std::sync::Arc<Metrics>) -> Self {
        let (max, workers) = (settings.max_set, settings.in_flight);
        Self {
            acquires: Batcher::start(pool.clone(), max, workers, metrics.clone()),
            renewals: Batcher::start(pool.clone(), max, workers, metrics.clone()),
            releases: Batcher::start(pool.clone(), max, workers, metrics.clone()),
            handovers: Batcher::start(pool.clone(), max, workers, metrics.clone()),
            permits: Batcher::start(pool.clone(), max, workers, metrics.clone()),
            permit_releases: Batcher::start(pool.clone(), max, workers, metrics.clone()),
        }
    }
}

pub(super) struct Acquires;

impl Kind for Acquires {
    type Item = AcquireItem;
    type Out = Attempt;
    const NAME: &'static str = "acquire";

    fn lock(item: &AcquireItem) -> (&str, &str) {
        (item.namespace.as_str(), item.name.as_str())
    }

    async fn run_set(pool: &PgPool, items: &[&AcquireItem]) -> Result<Vec<Option<Attempt>>, StoreError> {
        match items {
            [item] => Ok(vec![Some(Self::run_one(pool, item).await?)]),
            _ => batch::acquire_many(pool, items).await,
        }
    }

    /// A native fail-fast acquire with a fresh token (no Idempotency-Key, so
    /// it cannot be a retry finding its own grant) that queued behind another
    /// on the same lock: once that one is granted or refused, this one is
    /// refused on the same lease, or queued behind the same waiters.
    fn may_ride(item: &AcquireItem) -> bool {
        item.compat.is_none() && item.idempotency_key.is_none() && item.waiter.is_none()
    }

    fn ride(_first: &AcquireItem, out: &Attempt, _rider: &AcquireItem) -> Option<Attempt> {
        let acquired = match &out.acquired {
            Acquired::Granted(lock) => {
                let retry_after = lock.ttl_seconds.max(1) as u32;
                Acquired::Held { lock: lock.clone(), retry_after }
            }
            Acquired::Held { lock, retry_after } => {
                Acquired::Held { lock: lock.clone(), retry_after: *retry_after }
            }
            Acquired::Queued { waiters } => Acquired::Queued { waiters: *waiters },
            // The first's account had no room; the rider's may.
            Acquired::OverQuota => return None,
        };
        let wake_in = match &out.acquired {
            Acquired::Granted(lock) => std::time::Duration::from_secs(lock.ttl_seconds.max(0) as u64),
            _ => out.wake_in,
        };
        Some(Attempt { acquired, wake_in, waiters: out.waiters, events: 0 })
    }

    async fn run_one(pool: &PgPool, item: &AcquireItem) -> Result<Attempt, StoreError> {
        locks::acquire_with(pool, &item.lease(), &item.actor, &item.options()).await
    }
}

/// Renewals (`RELEASE` false) or releases (true) by lock token.
pub(super) struct Changes<const RELEASE: bool>;
pub(super) type Renewals = Changes<false>;
pub(super) type Releases = Changes<true>;

impl<const RELEASE: bool> Kind for Changes<RELEASE> {
    type Item = ChangeItem;
    type Out = Option<Lock>;
    const NAME: &'static str = if RELEASE { "release" } else { "renew" };

    fn lock(item: &ChangeItem) -> (&str, &str) {
        (item.namespace.as_str(), item.name.as_str())
    }

    async fn run_set(pool: &PgPool, items: &[&ChangeItem]) -> Result<Vec<Option<Option<Lock>>>, StoreError> {
        let statement = if RELEASE { RELEASE_MANY } else { RENEW_MANY };
        match items {
            [item] => Ok(vec![Some(Self::run_one(pool, item).await?)]),
            _ => Ok(batch::change_many(pool, statement, items).await?.into_iter().map(Some).collect()),
        }
    }

    async fn run_one(pool: &PgPool, item: &ChangeItem) -> Result<Option<Lock>, StoreError> {
        match RELEASE {
            true => locks::release(pool, &item.change()).await,
            false => locks::renew(pool, &item.change(), item.ttl).await,
        }
    }
}

/// Native handovers by lock token.
pub(super) struct Handovers;

impl Kind for Handovers {
    type Item = HandoverItem;
    type Out = Option<Lock>;
    const NAME: &'static str = "handover";

    fn lock(item: &HandoverItem) -> (&str, &str) {
        (item.change.namespace.as_str(), item.change.name.as_str())
    }

    async fn run_set(
        pool: &PgPool,
        items: &[&HandoverItem],
    ) -> Result<Vec<Option<Option<Lock>>>, StoreError> {
        match items {
            [item] => Ok(vec![Some(Self::run_one(pool, item).await?)]),
            _ => Ok(handover::hand_over_many(pool, items).await?.into_iter().map(Some).collect()),
        }
    }

    async fn run_one(pool: &PgPool, item: &HandoverItem) -> Result<Option<Lock>, StoreError> {
        handover::hand_over(pool, &item.change.change(), &item.next()).await
    }
}

/// Semaphore acquires (a newcomer's, or a waiter's try from its place), at
/// most one per semaphore in a set.
pub(super) struct Permits;

impl Kind for Permits {
    type Item = PermitItem;
    type Out = SemaphoreAttempt;
    const NAME: &'static str = "semaphore_acquire";

    fn lock(item: &PermitItem) -> (&str, &str) {
        (item.namespace.as_str(), item.name.as_str())
    }

    async fn run_set(
        pool: &PgPool,
        items: &[&PermitItem],
    ) -> Result<Vec<Option<SemaphoreAttempt>>, StoreError> {
        match items {
            [item] => Ok(vec![Some(Self::run_one(pool, item).await?)]),
            _ => semaphores::acquire_many(pool, items).await,
        }
    }

    async fn run_one(pool: &PgPool, item: &PermitItem) -> Result<SemaphoreAttempt, StoreError> {
        semaphores::acquire(pool, &item.permit(), &item.actor).await
    }
}

/// Semaphore releases by lock token, at most one per semaphore in a set.
pub(super) struct PermitReleases;

impl Kind for PermitReleases {
    type Item = PermitRelease;
    type Out = bool;
    const NAME: &'static str = "semaphore_release";

    fn lock(item: &PermitRelease) -> (&str, &str) {
        (item.namespace.as_str(), item.name.as_str())
    }

    async fn run_set(pool: &PgPool, items: &[&PermitRelease]) -> Result<Vec<Option<bool>>, StoreError> {
        match items {
            [item] => Ok(vec![Some(Self::run_one(pool, item).await?)]),
            _ => semaphores::release_many(pool, items).await,
        }
    }

    async fn run_one(pool: &PgPool, item: &PermitRelease) -> Result<bool, StoreError> {
        semaphores::release(pool, &item.change()).await
    }
}
