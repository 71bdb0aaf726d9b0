//! A lock set: several locks acquired all together or not at all, under one
//! token and one lease, so no two holders can each take part of a set and
//! wait on each other for the rest.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::{Answer, Call, Client};
use crate::endpoint::{collection, encode_segment, whole_seconds, Endpoint};
use crate::error::{Error, LostReason};
use crate::held::{Held, Renewable, Renewal};
use crate::lock::LockToken;
use crate::waiting::acquire_within;

/// The time to live a set's lease gets unless you choose one: the grant
/// does not say how long the lease is, and the heartbeat must know.
const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// A held lock set, as the server granted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockSet {
    pub set_id: String,
    pub namespace: String,
    /// By the server's clock, as of the last acquire or renewal.
    pub expires_at: DateTime<Utc>,
    /// Every lock of the set, each with its own fencing token.
    pub locks: Vec<SetMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetMember {
    pub name: String,
    pub fencing_token: i64,
}

#[derive(Deserialize)]
struct Grant {
    #[serde(flatten)]
    set: LockSet,
    lock_token: String,
}

impl Renewable for LockSet {
    fn renewed(&mut self, answer: &Answer) -> Result<(), Error> {
        self.expires_at = answer.parse::<Renewal>()?.expires_at;
        Ok(())
    }
}

/// Locks to acquire together, with the options an acquire uses. Made by
/// [`Client::lock_set`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LockSetRequest {
    client: Client,
    namespace: Option<String>,
    names: Vec<String>,
    ttl: Duration,
    wait: Option<Duration>,
    owner: Option<String>,
}

impl LockSetRequest {
    pub(crate) fn new(client: Client, names: Vec<String>) -> Self {
        Self { client, namespace: None, names, ttl: DEFAULT_TTL, wait: None, owner: None }
    }

    /// The namespace of every lock in the set (default: the API key's own).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The set's time to live, in whole seconds (rounded up; default 30 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long [`acquire`](Self::acquire) waits for every lock to be free.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Who holds them, for people reading their state and audit trail.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Acquires every lock or none, waiting up to the [`wait`](Self::wait)
    /// you set (none by default): [`Error::Held`] if some stayed held.
    pub async fn acquire(self) -> Result<LockSetGuard, Error> {
        acquire_within(self.wait, |wait| self.acquire_once(wait)).await
    }

    /// One attempt, without waiting.
    pub async fn try_acquire(self) -> Result<LockSetGuard, Error> {
        self.acquire_once(Duration::ZERO).await
    }

    async fn acquire_once(&self, wait: Duration) -> Result<LockSetGuard, Error> {
        let sets = collection(self.namespace.as_deref(), "lock-sets");
        let mut call = Call::new(Method::POST, sets.clone()).idempotent();
        call.body = Some(self.acquire_body(wait));
        call.extra_timeout = Some(wait).filter(|w| !w.is_zero());
        let answer = self.client.send(&call).await?;
        let grant: Grant = answer.parse()?;
        let path = format!("{sets}/{}", encode_segment(&grant.set.set_id));
        let endpoint = Endpoint { client: self.client.clone(), path };
        let token = LockToken::new(grant.lock_token);
        let ttl = Duration::from_secs(whole_seconds(self.ttl));
        Ok(LockSetGuard { held: Held::start(endpoint, token, grant.set, ttl, answer.sent).await? })
    }

    fn acquire_body(&self, wait: Duration) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("names".into(), self.names.clone().into());
        body.insert("ttl_seconds".into(), whole_seconds(self.ttl).into());
        if let Some(owner) = &self.owner {
            body.insert("owner".into(), owner.clone().into());
        }
        if !wait.is_zero() {
            body.insert("wait_seconds".into(), wait.as_secs().into());
        }
        body.into()
    }
}

/// A lock set you hold. Like a [`LockGuard`](crate::LockGuard), it renews
/// the set's lease in the background, tells you when it is lost, and
/// releases every lock when dropped.
#[derive(Debug)]
pub struct LockSetGuard {
    held: Held<LockSet>,
}

impl LockSetGuard {
    /// The set as of the acquire, with the expiry of the last renewal.
    pub fn lock_set(&self) -> LockSet {
        self.held.state()
    }

    /// The fencing token of the set's lock `name`, if it is one of them.
    pub fn fencing_token(&self, name: &str) -> Option<i64> {
        self.held.state().locks.iter().find(|lock| lock.name == name).map(|lock| lock.fencing_token)
    }

    /// The token that renews and releases the whole set.
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

    /// Stops renewing and releases every lock of the set; see
    /// [`LockGuard::release`](crate::LockGuard::release).
    pub async fn release(self) -> Result<(), Error> {
        self.held.release().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acquire_names_every_lock_and_always_a_ttl() {
        let client = Client::new("http://127.0.0.1:1", "k").unwrap();
        let body = client.lock_set(["a", "b"]).owner("me").acquire_body(Duration::ZERO);
        let expected = serde_json::json!({ "names": ["a", "b"], "ttl_seconds": 30, "owner": "me" });
        assert_eq!(body, expected);
    }
}
