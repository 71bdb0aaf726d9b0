//! A held lease that renews itself and says when it is lost.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::error::{Error, LostReason};
use crate::lock::{Grant, Lease, LockRequest, LockToken};
use crate::retry::Backoff;

/// A lock you hold. While it lives, a background task renews the lease at a
/// third of its time to live. Dropping it releases the lock in the
/// background; [`release`](Self::release) does it and tells you how it went.
///
/// Work that must not outlive the lease should race it against
/// [`lost`](Self::lost):
///
/// ```no_run
/// # async fn demo(client: leasehold_client::Client) -> Result<(), leasehold_client::Error> {
/// use std::time::Duration;
/// let guard = client.lock("reindex").ttl(Duration::from_secs(15)).acquire().await?;
/// tokio::select! {
///     reason = guard.lost() => eprintln!("lease lost ({reason}): stopping"),
///     _ = reindex(guard.fencing_token()) => guard.release().await?,
/// }
/// # Ok(()) }
/// # async fn reindex(_fencing_token: i64) {}
/// ```
#[derive(Debug)]
pub struct LockGuard {
    request: LockRequest,
    token: LockToken,
    lease: Arc<Mutex<Lease>>,
    lost: watch::Receiver<Option<LostReason>>,
    deadline: watch::Receiver<Instant>,
    /// Dropping this without a message makes the heartbeat release.
    stop: Option<oneshot::Sender<Stop>>,
    heartbeat: Option<JoinHandle<()>>,
}

#[derive(Debug)]
enum Stop {
    /// Stop renewing, leave the lease alone.
    Halt,
}

impl LockGuard {
    /// Must run inside a Tokio runtime: it spawns the heartbeat.
    pub(crate) fn start(request: LockRequest, grant: Grant, sent: Instant) -> Self {
        let token = LockToken::new(grant.lock_token);
        let ttl = Duration::from_secs(u64::from(grant.lease.ttl_seconds.max(1)));
        let lease = Arc::new(Mutex::new(grant.lease));
        let (lost_tx, lost) = watch::channel(None);
        let (deadline_tx, deadline) = watch::channel(sent + ttl);
        let (stop_tx, stop_rx) = oneshot::channel();
        let heartbeat = Heartbeat {
            request: request.clone(),
            token: token.clone(),
            ttl,
            lease: lease.clone(),
            lost: lost_tx,
            deadline: deadline_tx,
        };
        let task = tokio::spawn(heartbeat.run(sent, stop_rx));
        Self { request, token, lease, lost, deadline, stop: Some(stop_tx), heartbeat: Some(task) }
    }

    pub fn fencing_token(&self) -> i64 {
        self.lease().fencing_token
    }

    /// The expiry the server gave at the last acquire or renewal (server clock).
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.lease().expires_at
    }

    /// The lease as of the last acquire or renewal.
    pub fn lease(&self) -> Lease {
        self.lease.lock().expect("lease lock").clone()
    }

    /// The token that renews and releases this lease.
    pub fn token(&self) -> &LockToken {
        &self.token
    }

    /// The instant, on this process's monotonic clock, after which the
    /// lease may have lapsed: the time to live after the last successful
    /// renewal (or the acquire) was *sent*.
    pub fn valid_until(&self) -> Instant {
        *self.deadline.borrow()
    }

    /// Why the lease is lost, if it is known to be (or may be).
    pub fn is_lost(&self) -> Option<LostReason> {
        *self.lost.borrow()
    }

    /// Resolves when the lease is lost: the server refused a renewal
    /// (`lease_lost`, with its reason), or renewals kept failing until
    /// [`valid_until`](Self::valid_until) passed
    /// ([`LostReason::RenewalsFailed`]). It never resolves for a lease that
    /// is released or detached while held. The future owns what it needs, so
    /// it may outlive a borrow of the guard.
    pub fn lost(&self) -> impl Future<Output = LostReason> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            let reason = match lost.wait_for(Option::is_some).await {
                Ok(reason) => *reason,
                Err(_) => None,
            };
            match reason {
                Some(reason) => reason,
                None => std::future::pending().await,
            }
        }
    }

    /// Stops renewing and releases the lock. `Ok` means it was held until
    /// this release; [`Error::LeaseLost`] says how it had been lost before;
    /// a transient error means the outcome is unknown (the lease then
    /// lapses at its expiry).
    pub async fn release(mut self) -> Result<(), Error> {
        self.halt().await;
        match self.is_lost() {
            Some(LostReason::RenewalsFailed) | None => self.request.release(&self.token).await,
            Some(reason) => Err(Error::LeaseLost { reason }),
        }
    }

    /// Stops renewing and hands the lock over: this lease ends and the next
    /// one (new token, higher fencing token) is returned, for another holder
    /// to take up with [`LockRequest::adopt`]. On a transient error the
    /// outcome is unknown: this lease lapses at its expiry if it was not
    /// handed over.
    pub async fn hand_over(
        mut self,
        owner: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<(Lease, LockToken), Error> {
        self.halt().await;
        match self.is_lost() {
            Some(LostReason::RenewalsFailed) | None => self.request.handover(&self.token, owner, ttl).await,
            Some(reason) => Err(Error::LeaseLost { reason }),
        }
    }

    /// Stops renewing and gives up the guard without releasing: the lease
    /// stays until it expires (or someone releases it with its token).
    pub async fn detach(mut self) -> (Lease, LockToken) {
        self.halt().await;
        (self.lease(), self.token.clone())
    }

    async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Stop::Halt);
        }
        if let Some(task) = self.heartbeat.take() {
            let _ = task.await;
        }
    }
}

struct Heartbeat {
    request: LockRequest,
    token: LockToken,
    ttl: Duration,
    lease: Arc<Mutex<Lease>>,
    lost: watch::Sender<Option<LostReason>>,
    deadline: watch::Sender<Instant>,
}

impl Heartbeat {
    async fn run(self, mut last_ok: Instant, mut stop: oneshot::Receiver<Stop>) {
        loop {
            tokio::select! {
                biased;
                stopped = &mut stop => return self.stopped(stopped.is_err()).await,
                _ = sleep_until(last_ok + self.ttl / 3) => {}
            }
            tokio::select! {
                biased;
                stopped = &mut stop => return self.stopped(stopped.is_err()).await,
                renewed = self.renew_until(last_ok + self.ttl) => match renewed {
                    Ok(sent) => last_ok = sent,
                    Err(reason) => {
                        self.lost.send_replace(Some(reason));
                        if reason != LostReason::RenewalsFailed {
                            return;
                        }
                        // It may still be held: release it if the guard is dropped.
                        return self.stopped(stop.await.is_err()).await;
                    }
                },
            }
        }
    }

    /// Renews, retrying every failure but a lost lease until `deadline`.
    /// Returns when the successful renewal (its first attempt) was sent.
    async fn renew_until(&self, deadline: Instant) -> Result<Instant, LostReason> {
        let mut pauses = Backoff::new(Duration::from_millis(100), self.ttl / 6).pauses();
        let attempts = async {
            loop {
                match self.request.renew_answer(&self.token, None).await.and_then(|a| {
                    let lease: Lease = a.parse()?;
                    Ok((lease, a.sent))
                }) {
                    Ok((lease, sent)) => {
                        *self.lease.lock().expect("lease lock") = lease;
                        self.deadline.send_replace(sent + self.ttl);
                        return Ok(sent);
                    }
                    Err(Error::LeaseLost { reason }) => return Err(reason),
                    Err(_) => tokio::time::sleep(pauses.next()).await,
                }
            }
        };
        tokio::select! {
            outcome = attempts => outcome,
            _ = sleep_until(deadline) => Err(LostReason::RenewalsFailed),
        }
    }

    /// The guard halted us (release or detach) or was dropped.
    async fn stopped(&self, dropped: bool) {
        if dropped {
            let _ = self.request.release(&self.token).await;
        }
    }
}
