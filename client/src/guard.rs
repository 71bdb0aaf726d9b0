//! A held lock that renews itself and says when it is lost.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::client::Answer;
use crate::error::{Error, LostReason};
use crate::held::{Held, Renewable};
use crate::lock::{Grant, Lease, LockRequest, LockToken};

/// A lock you hold (exclusive or shared). While it lives, a background task
/// renews the lease at a third of its time to live. Dropping it releases the
/// lock in the background; [`release`](Self::release) does it and tells you
/// how it went.
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
    held: Held<Lease>,
}

impl Renewable for Lease {
    fn renewed(&mut self, answer: &Answer) -> Result<(), Error> {
        *self = answer.parse()?;
        Ok(())
    }
}

impl LockGuard {
    /// Must run inside a Tokio runtime: it spawns the heartbeat.
    pub(crate) async fn start(request: LockRequest, grant: Grant, sent: Instant) -> Result<Self, Error> {
        let ttl = Duration::from_secs(u64::from(grant.lease.ttl_seconds));
        let token = LockToken::new(grant.lock_token);
        let held = Held::start(request.endpoint(), token, grant.lease, ttl, sent).await?;
        Ok(Self { request, held })
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
        self.held.state()
    }

    /// The token that renews and releases this lease.
    pub fn token(&self) -> &LockToken {
        self.held.token()
    }

    /// The instant, on this process's monotonic clock, after which the
    /// lease may have lapsed: the time to live after the last successful
    /// renewal (or the acquire) was *sent*.
    pub fn valid_until(&self) -> Instant {
        self.held.valid_until()
    }

    /// Why the lease is lost, if it is known to be (or may be).
    pub fn is_lost(&self) -> Option<LostReason> {
        self.held.is_lost()
    }

    /// Resolves when the lease is lost: the server refused a renewal
    /// (`lease_lost`, with its reason), or renewals kept failing until
    /// [`valid_until`](Self::valid_until) passed
    /// ([`LostReason::RenewalsFailed`]). It never resolves for a lease that
    /// is released or detached while held. The future owns what it needs, so
    /// it may outlive a borrow of the guard.
    pub fn lost(&self) -> impl Future<Output = LostReason> + Send + 'static {
        self.held.lost()
    }

    /// Stops renewing and releases the lock. `Ok` means it was held until
    /// this release; [`Error::LeaseLost`] says how it had been lost before;
    /// a transient error means the outcome is unknown (the lease then
    /// lapses at its expiry).
    pub async fn release(self) -> Result<(), Error> {
        self.held.release().await
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
        self.held.halt().await;
        self.held.still_held()?;
        self.request.handover(self.held.token(), owner, ttl).await
    }

    /// Stops renewing and gives up the guard without releasing: the lease
    /// stays until it expires (or someone releases it with its token).
    pub async fn detach(self) -> (Lease, LockToken) {
        self.held.detach().await
    }
}
