//! Wake-ups for waiters, pushed through PostgreSQL's LISTEN/NOTIFY: one
//! listening connection per replica, so a release on any replica wakes the
//! waiters on every replica.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::store::fragments::WAKE_CHANNEL as CHANNEL;

/// Local waiters by lock (`namespace/name`, as the NOTIFY payload names it),
/// each under its place in the queue. A wake-up goes to the local waiter with
/// the earliest place only: the others could not be granted before it, so
/// waking them would only load the database.
#[derive(Default)]
pub struct WakeHub {
    waiters: Mutex<HashMap<String, BTreeMap<i64, Arc<Notify>>>>,
}

/// A local waiter's registration; dropping it removes the waiter.
pub struct Registration {
    hub: Arc<WakeHub>,
    key: String,
    place: i64,
    pub signal: Arc<Notify>,
}

impl Registration {
    /// Whether no other local waiter on this lock queued earlier.
    pub fn is_local_head(&self) -> bool {
        let waiters = self.hub.waiters.lock().expect("not poisoned");
        waiters.get(&self.key).and_then(|places| places.keys().next()) == Some(&self.place)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiters = self.hub.waiters.lock().expect("not poisoned");
        if let Some(places) = waiters.get_mut(&self.key) {
            places.remove(&self.place);
            if places.is_empty() {
                waiters.remove(&self.key);
            }
        }
    }
}

impl WakeHub {
    pub fn register(self: &Arc<Self>, namespace: &str, name: &str, place: i64) -> Registration {
        let key = format!("{namespace}/{name}");
        let signal = Arc::new(Notify::new());
        let mut waiters = self.waiters.lock().expect("not poisoned");
        waiters.entry(key.clone()).or_default().insert(place, signal.clone());
        Registration { hub: self.clone(), key, place, signal }
    }

    fn wake(&self, key: &str) {
        let waiters = self.waiters.lock().expect("not poisoned");
        if let Some(head) = waiters.get(key).and_then(|places| places.values().next()) {
            head.notify_one();
        }
    }

    /// After the listener lost its connection notifications may have been
    /// missed: every waiter looks again.
    fn wake_all(&self) {
        let waiters = self.waiters.lock().expect("not poisoned");
        waiters.values().flat_map(BTreeMap::values).for_each(|n| n.notify_one());
    }

    /// Listens until `stop`, reconnecting after failures and whenever the
    /// pool `moves` to a new primary.
    pub async fn listen(
        self: Arc<Self>,
        pool: PgPool,
        mut moves: Option<watch::Receiver<u64>>,
        stop: CancellationToken,
    ) {
        loop {
            match self.listen_once(&pool, moves.as_mut(), &stop).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "wake-up listener lost its connection; reconnecting");
                    self.wake_all();
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }

    /// Notifications sent while no connection listened are lost, so every
    /// waiter looks again once the LISTEN is in place.
    async fn listen_once(
        &self,
        pool: &PgPool,
        mut moves: Option<&mut watch::Receiver<u64>>,
        stop: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        self.wake_all();
        let moved = async {
            let moved = match moves.as_mut() {
                Some(moves) => moves.changed().await.is_ok(),
                None => false,
            };
            if !moved {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(moved);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = &mut moved => return Err(lost("the pool moved to a new primary")),
                received = listener.try_recv() => match received? {
                    Some(notification) => self.wake(notification.payload()),
                    None => return Err(lost("the connection closed")),
                },
            }
        }
    }
}

fn lost(why: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(why.to_owned()))
}
