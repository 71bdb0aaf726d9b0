//! A counting semaphore: up to `limit` holders at once, each with its own
//! token, fencing token and lease.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::{Answer, Call, Client};
use crate::endpoint::{whole_seconds, Endpoint};
use crate::error::{Error, LostReason};
use crate::held::{Held, Renewable, Renewal};
use crate::holders::Holder;
use crate::lock::LockToken;
use crate::waiting::acquire_within;

/// One holder's place in a semaphore, as the server granted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permit {
    pub namespace: String,
    pub name: String,
    /// Strictly greater than every fencing token this semaphore gave before.
    pub fencing_token: i64,
    pub limit: u32,
    /// How many held it, this holder included, when it was granted.
    pub holders: u32,
    pub owner: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    pub acquired_at: DateTime<Utc>,
    /// By the server's clock, as of the last acquire or renewal.
    pub expires_at: DateTime<Utc>,
    pub ttl_seconds: u32,
}

/// A semaphore's limit and every live holder's lease (from a status read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SemaphoreState {
    pub namespace: String,
    pub name: String,
    /// `None` when nobody holds it: then any limit may be asked for.
    pub limit: Option<u32>,
    pub holders: Vec<Holder>,
}

#[derive(Deserialize)]
struct Grant {
    #[serde(flatten)]
    permit: Permit,
    lock_token: String,
}

impl Renewable for Permit {
    fn renewed(&mut self, answer: &Answer) -> Result<(), Error> {
        self.expires_at = answer.parse::<Renewal>()?.expires_at;
        Ok(())
    }
}

/// A semaphore by name and limit, with the options an acquire uses. Made by
/// [`Client::semaphore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SemaphoreRequest {
    client: Client,
    namespace: Option<String>,
    name: String,
    limit: u32,
    ttl: Option<Duration>,
    wait: Option<Duration>,
    owner: Option<String>,
    metadata: Option<serde_json::Value>,
}

impl SemaphoreRequest {
    pub(crate) fn new(client: Client, name: String, limit: u32) -> Self {
        Self { client, namespace: None, name, limit, ttl: None, wait: None, owner: None, metadata: None }
    }

    /// The namespace (default: the API key's own).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The lease's time to live, in whole seconds (rounded up; default: the
    /// plan's).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How long [`acquire`](Self::acquire) waits for a place.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Who holds it, for people reading its state and audit trail.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Any JSON to keep with the lease.
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Takes a place, waiting up to the [`wait`](Self::wait) you set (none
    /// by default) for one to free up: [`Error::SemaphoreFull`] if none did,
    /// [`Error::LimitMismatch`] if its holders use another limit.
    pub async fn acquire(self) -> Result<SemaphoreGuard, Error> {
        acquire_within(self.wait, |wait| self.acquire_once(wait)).await
    }

    /// One attempt, without waiting.
    pub async fn try_acquire(self) -> Result<SemaphoreGuard, Error> {
        self.acquire_once(Duration::ZERO).await
    }

    async fn acquire_once(&self, wait: Duration) -> Result<SemaphoreGuard, Error> {
        let endpoint = self.endpoint();
        let mut call = Call::new(Method::POST, endpoint.path.clone()).idempotent();
        call.body = Some(self.acquire_body(wait));
        call.extra_timeout = Some(wait).filter(|w| !w.is_zero());
        let answer = self.client.send(&call).await?;
        let grant: Grant = answer.parse()?;
        let ttl = Duration::from_secs(grant.permit.ttl_seconds.into());
        let token = LockToken::new(grant.lock_token);
        Ok(SemaphoreGuard { held: Held::start(endpoint, token, grant.permit, ttl, answer.sent).await? })
    }

    fn acquire_body(&self, wait: Duration) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("limit".into(), self.limit.into());
        if let Some(ttl) = self.ttl {
            body.insert("ttl_seconds".into(), whole_seconds(ttl).into());
        }
        if let Some(owner) = &self.owner {
            body.insert("owner".into(), owner.clone().into());
        }
        if let Some(metadata) = &self.metadata {
            body.insert("metadata".into(), metadata.clone());
        }
        if !wait.is_zero() {
            body.insert("wait_seconds".into(), wait.as_secs().into());
        }
        body.into()
    }

    /// The semaphore's limit and live holders (none when it is free).
    pub async fn status(&self) -> Result<SemaphoreState, Error> {
        self.client.send(&Call::new(Method::GET, self.endpoint().path)).await?.parse()
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::named(self.client.clone(), self.namespace.as_deref(), "semaphores", &self.name)
    }
}

/// A place in a semaphore that you hold. Like a [`LockGuard`](crate::LockGuard),
/// it renews its lease in the background, tells you when it is lost, and
/// releases when dropped.
#[derive(Debug)]
pub struct SemaphoreGuard {
    held: Held<Permit>,
}

impl SemaphoreGuard {
    pub fn fencing_token(&self) -> i64 {
        self.held.state().fencing_token
    }

    /// The permit as of the acquire, with the expiry of the last renewal.
    pub fn permit(&self) -> Permit {
        self.held.state()
    }

    /// The token that renews and releases this place.
    pub fn token(&self) -> &LockToken {
        self.held.token()
    }

    /// See [`LockGuard::valid_until`](crate::LockGuard::valid_until).
    pub fn valid_until(&self) -> Instant {
        self.held.valid_until()
    }

    pub fn is_lost(&self) -> Option<LostReason> {
        self.held.is_lost()
    }

    /// See [`LockGuard::lost`](crate::LockGuard::lost).
    pub fn lost(&self) -> impl Future<Output = LostReason> + Send + 'static {
        self.held.lost()
    }

    /// Stops renewing and gives the place up; see
    /// [`LockGuard::release`](crate::LockGuard::release).
    pub async fn release(self) -> Result<(), Error> {
        self.held.release().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acquire_always_names_its_limit_and_waits_in_the_body() {
        let client = Client::new("http://127.0.0.1:1", "k").unwrap();
        let body = client.semaphore("pool", 3).acquire_body(Duration::from_secs(5));
        assert_eq!(body, serde_json::json!({ "limit": 3, "wait_seconds": 5 }));
    }
}
