//! Group commit: concurrent lock operations of one kind are gathered and sent
//! as one set-based statement (`store::locks::batch`). A worker takes whatever
//! queued while the previous statement was in flight, up to a cap; a lone
//! request goes at once, so there is no timer to wait on. At most one
//! operation per lock goes into a set (PostgreSQL changes a row once per
//! statement): a later one on that lock either rides on it, when its outcome
//! follows from the first's (a fail-fast acquire behind a grant is refused,
//! as it would be run just after), or stays queued, in arrival order, for
//! the next. A statement that fails as a whole is
//! retried one item at a time, so that one bad item fails alone; a database
//! that cannot be reached fails every item with it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::{oneshot, Notify};

use crate::metrics::Metrics;
use crate::store::StoreError;

/// One kind of operation that can be applied to a set at once.
pub(super) trait Kind: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Out: Send + 'static;
    /// The metrics' label.
    const NAME: &'static str;

    /// The lock an item acts on.
    fn lock(item: &Self::Item) -> (&str, &str);

    /// Each item's outcome, in order; `None` for one to try again.
    fn run_set(
        pool: &PgPool,
        items: &[&Self::Item],
    ) -> impl Future<Output = Result<Vec<Option<Self::Out>>, StoreError>> + Send;

    /// The outcome of `rider`, which queued behind `first` on the same lock,
    /// when it follows from `first`'s outcome `out` without a statement of
    /// its own: exactly what running it just after `first` would answer.
    fn ride(_first: &Self::Item, _out: &Self::Out, _rider: &Self::Item) -> Option<Self::Out> {
        None
    }

    /// Whether `item` might ride on an earlier item on its lock.
    fn may_ride(_item: &Self::Item) -> bool {
        false
    }

    /// One item alone, for a set whose statement failed.
    fn run_one(
        pool: &PgPool,
        item: &Self::Item,
    ) -> impl Future<Output = Result<Self::Out, StoreError>> + Send;
}

struct Job<K: Kind> {
    item: K::Item,
    reply: oneshot::Sender<Result<K::Out, StoreError>>,
    tries: u32,
    /// Arrival order, kept when a job is queued again.
    arrived: u64,
    /// Later jobs on the same lock answered from this one's outcome.
    riders: Vec<Job<K>>,
}

struct Shared<K: Kind> {
    queue: Mutex<VecDeque<Job<K>>>,
    queued: Arc<Notify>,
    pool: PgPool,
    max_set: usize,
    metrics: Arc<Metrics>,
    arrivals: AtomicU64,
}

/// The queue of one kind of operation and the workers that drain it.
pub(super) struct Batcher<K: Kind> {
    shared: Arc<Shared<K>>,
}

impl<K: Kind> Clone for Batcher<K> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

/// How often an item that lost a race with a concurrent change is tried
/// again; each try sees a newer snapshot, so one retry is the norm.
const MAX_TRIES: u32 = 8;

impl<K: Kind> Batcher<K> {
    /// Starts `workers` workers: statements of this kind in flight at once.
    pub fn start(pool: PgPool, max_set: usize, workers: usize, metrics: Arc<Metrics>) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            queued: Arc::new(Notify::new()),
            pool,
            max_set: max_set.max(1),
            metrics,
            arrivals: AtomicU64::new(0),
        });
        for _ in 0..workers.max(1) {
            tokio::spawn(work(Arc::downgrade(&shared)));
        }
        Self { shared }
    }

    /// Queues `item` for the next set and waits for its outcome.
    pub async fn run(&self, item: K::Item) -> Result<K::Out, StoreError> {
        let (reply, outcome) = oneshot::channel();
        {
            // Numbered under the lock, so that arrival order is queue order.
            let mut queue = self.shared.queue.lock().expect("not poisoned");
            let arrived = self.shared.arrivals.fetch_add(1, Ordering::Relaxed);
            queue.push_back(Job { item, reply, tries: 0, arrived, riders: Vec::new() });
        }
        self.shared.queued.notify_one();
        outcome.await.unwrap_or(Err(StoreError::TimedOut))
    }
}

/// A worker: takes a set, runs it, answers each item; ends when the batcher
/// is dropped.
async fn work<K: Kind>(shared: std::sync::Weak<Shared<K>>) {
    loop {
        let Some(strong) = shared.upgrade() else { return };
        let Some(set) = take(&strong) else {
            let queued = strong.queued.clone();
            drop(strong);
            // Holding no reference while idle, so that the batcher's owner can
            // go; whether it has is checked now and then.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), queued.notified()).await;
            continue;
        };
        strong.metrics.batch(K::NAME, set.len());
        run::<K>(&strong, set).await;
    }
}

/// The oldest queued jobs, up to the cap, at most one per lock; later jobs
/// on a lock in the set ride on it where they may.
fn take<K: Kind>(shared: &Shared<K>) -> Option<Vec<Job<K>>> {
    let mut queue = shared.queue.lock().expect("not poisoned");
    if queue.is_empty() {
        return None;
    }
    let mut set: Vec<Job<K>> = Vec::with_capacity(queue.len().min(shared.max_set));
    let mut locks: HashMap<(String, String), usize> = HashMap::new();
    let mut deferred: HashSet<(String, String)> = HashSet::new();
    let mut later = VecDeque::new();
    while let Some(job) = queue.pop_front() {
        let lock = K::lock(&job.item);
        let lock = (lock.0.to_owned(), lock.1.to_owned());
        match locks.get(&lock) {
            Some(&first) if K::may_ride(&job.item) && !deferred.contains(&lock) => {
                set[first].riders.push(job)
            }
            Some(_) => {
                deferred.insert(lock);
                later.push_back(job);
            }
            None if set.len() == shared.max_set => {
                queue.push_front(job);
                break;
            }
            None => {
                locks.insert(lock, set.len());
                set.push(job);
            }
        }
    }
    // What waits on a lock already in this set keeps its place.
    while let Some(job) = later.pop_back() {
        queue.push_front(job);
    }
    Some(set)
}

/// Answers `job` and its riders from its outcome; riders whose outcome does
/// not follow from it are queued again, first.
fn answer<K: Kind>(mut job: Job<K>, outcome: Result<K::Out, StoreError>, requeue: &mut Vec<Job<K>>) {
    for rider in std::mem::take(&mut job.riders) {
        match outcome.as_ref().ok().and_then(|out| K::ride(&job.item, out, &rider.item)) {
            Some(out) => {
                let _ = rider.reply.send(Ok(out));
            }
            None => requeue.push(rider),
        }
    }
    let _ = job.reply.send(outcome);
}

async fn run<K: Kind>(shared: &Shared<K>, mut set: Vec<Job<K>>) {
    // Every set statement locks its rows in lock-name order, so that two in
    // flight at once (or a set of acquires and one of releases) wait for
    // each other rather than deadlock.
    set.sort_unstable_by(|a, b| K::lock(&a.item).cmp(&K::lock(&b.item)));
    let items: Vec<&K::Item> = set.iter().map(|job| &job.item).collect();
    let mut again = Vec::new();
    match K::run_set(&shared.pool, &items).await {
        Ok(outcomes) => {
            for (mut job, outcome) in set.into_iter().zip(outcomes) {
                match outcome {
                    Some(out) => answer(job, Ok(out), &mut again),
                    None if job.tries + 1 < MAX_TRIES => {
                        job.tries += 1;
                        again.append(&mut job.riders);
                        again.push(job);
                    }
                    None => answer(job, Err(StoreError::TimedOut), &mut again),
                }
            }
        }
        Err(error) if error.is_unavailable() && !error.is_conflict() => {
            for job in set {
                answer(job, Err(error.clone()), &mut again);
            }
        }
        Err(error) => {
            tracing::warn!(%error, kind = K::NAME, size = set.len(), "a set statement failed; running its items one by one");
            for job in set {
                let outcome = K::run_one(&shared.pool, &job.item).await;
                answer(job, outcome, &mut again);
            }
        }
    }
    if !again.is_empty() {
        // Back in front, in arrival order, so that they keep their places.
        again.sort_by_key(|job| job.arrived);
        let mut queue = shared.queue.lock().expect("not poisoned");
        for job in again.into_iter().rev() {
            queue.push_front(job);
        }
        drop(queue);
        shared.queued.notify_one();
    }
}
