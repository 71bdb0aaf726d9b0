//! What every guard shares: a lease held under a token, renewed in the
//! background at a third of its time to live, released when the guard is
//! dropped, and watched for loss on this process's monotonic clock.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::client::Answer;
use crate::endpoint::Endpoint;
use crate::error::{Error, LostReason};
use crate::lock::LockToken;
use crate::retry::Backoff;

/// What a guard knows of its lease, brought up to date by each renewal.
pub(crate) trait Renewable: Clone + Send + 'static {
    /// Takes in a successful renewal's answer. An unreadable one is an
    /// error that leaves the state as it was (and the renewal is retried).
    fn renewed(&mut self, answer: &Answer) -> Result<(), Error>;
}

/// The part of a renewal's answer every kind of lease has: its new expiry.
#[derive(Deserialize)]
pub(crate) struct Renewal {
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct Held<S> {
    endpoint: Endpoint,
    token: LockToken,
    state: Arc<Mutex<S>>,
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

impl<S: Renewable> Held<S> {
    /// Must run inside a Tokio runtime: it spawns the heartbeat. `sent` is
    /// when the request that granted the lease was first sent. A grant that
    /// came after a wait in line came at a moment within the wait that
    /// cannot be known here, so the lease is then dated from a renewal sent
    /// now, not from the request (which may be older than a whole TTL).
    pub async fn start(
        endpoint: Endpoint,
        token: LockToken,
        mut state: S,
        ttl: Duration,
        mut sent: Instant,
    ) -> Result<Self, Error> {
        let ttl = ttl.max(Duration::from_secs(1));
        if sent.elapsed() > ttl / 3 {
            let answer = endpoint.renew_answer(&token, None).await?;
            if !answer.is_success() {
                return Err(answer.error());
            }
            state.renewed(&answer)?;
            sent = answer.sent;
        }
        let state = Arc::new(Mutex::new(state));
        let (lost_tx, lost) = watch::channel(None);
        let (deadline_tx, deadline) = watch::channel(sent + ttl);
        let (stop_tx, stop_rx) = oneshot::channel();
        let heartbeat = Heartbeat {
            endpoint: endpoint.clone(),
            token: token.clone(),
            ttl,
            state: state.clone(),
            lost: lost_tx,
            deadline: deadline_tx,
        };
        let task = tokio::spawn(heartbeat.run(sent, stop_rx));
        Ok(Self { endpoint, token, state, lost, deadline, stop: Some(stop_tx), heartbeat: Some(task) })
    }

    pub fn state(&self) -> S {
        self.state.lock().expect("lease state lock").clone()
    }

    pub fn token(&self) -> &LockToken {
        &self.token
    }

    pub fn valid_until(&self) -> Instant {
        *self.deadline.borrow()
    }

    pub fn is_lost(&self) -> Option<LostReason> {
        *self.lost.borrow()
    }

    /// Resolves when the lease is lost; never for one released or detached
    /// while held. Owns what it needs, so it may outlive a borrow of the guard.
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

    /// Stops renewing and releases (see [`Endpoint::release`]).
    pub async fn release(mut self) -> Result<(), Error> {
        self.halt().await;
        self.still_held()?;
        self.endpoint.release(&self.token).await
    }

    /// Stops renewing and gives up the lease without releasing it.
    pub async fn detach(mut self) -> (S, LockToken) {
        self.halt().await;
        (self.state(), self.token.clone())
    }

    /// Stops renewing, leaving the lease as it is.
    pub async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Stop::Halt);
        }
        if let Some(task) = self.heartbeat.take() {
            let _ = task.await;
        }
    }

    /// `Ok` unless the server said the lease is lost. One whose renewals
    /// failed may still be held, so it is worth releasing or handing over.
    pub fn still_held(&self) -> Result<(), Error> {
        match self.is_lost() {
            Some(LostReason::RenewalsFailed) | None => Ok(()),
            Some(reason) => Err(Error::LeaseLost { reason }),
        }
    }
}

struct Heartbeat<S> {
    endpoint: Endpoint,
    token: LockToken,
    ttl: Duration,
    state: Arc<Mutex<S>>,
    lost: watch::Sender<Option<LostReason>>,
    deadline: watch::Sender<Instant>,
}

impl<S: Renewable> Heartbeat<S> {
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
                match self.renew_once().await {
                    Ok(sent) => {
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

    async fn renew_once(&self) -> Result<Instant, Error> {
        let answer = self.endpoint.renew_answer(&self.token, None).await?;
        if !answer.is_success() {
            return Err(answer.error());
        }
        self.state.lock().expect("lease state lock").renewed(&answer)?;
        Ok(answer.sent)
    }

    /// The guard halted us (release or detach) or was dropped.
    async fn stopped(&self, dropped: bool) {
        if dropped {
            let _ = self.endpoint.release(&self.token).await;
        }
    }
}
