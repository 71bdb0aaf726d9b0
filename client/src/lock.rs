//! A named lock: acquire it (into a [`LockGuard`]), or read, renew and
//! release it by token.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Call, Client};
use crate::endpoint::{whole_seconds, Endpoint};
use crate::error::Error;
use crate::guard::LockGuard;
use crate::holders::{Holder, LockHolders, Mode};
use crate::waiting::acquire_within;
use crate::watch::Watch;

/// A lease as the server describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub namespace: String,
    pub name: String,
    /// Strictly greater than every fencing token this lock had before: pass
    /// it to the resource you protect, and have it refuse lower ones.
    pub fencing_token: i64,
    pub owner: Option<String>,
    pub acquired_at: DateTime<Utc>,
    /// By the server's clock. Judge your own deadline on your monotonic
    /// clock instead (see [`LockGuard::lost`]).
    pub expires_at: DateTime<Utc>,
    pub ttl_seconds: u32,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// How many clients wait for this lock (in a status read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiters: Option<i64>,
    /// Exclusive or shared, where the server says. A shared lock's status
    /// describes its holders as a whole: the latest grant's fencing token,
    /// the last expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// A shared lock's every holder (in a status read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holders: Option<Vec<Holder>>,
    /// The lock set the lease belongs to, if any (in a status read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
}

/// The secret that renews and releases a lease. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct LockToken(String);

impl LockToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, to send or store where only the holder can read it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockToken(<redacted>)")
    }
}

/// An acquire's answer: the lease and its token.
#[derive(Deserialize)]
pub(crate) struct Grant {
    #[serde(flatten)]
    pub lease: Lease,
    pub lock_token: String,
}

/// A lock by name, with the options an acquire uses. Made by
/// [`Client::lock`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LockRequest {
    client: Client,
    namespace: Option<String>,
    name: String,
    ttl: Option<Duration>,
    wait: Option<Duration>,
    owner: Option<String>,
    metadata: Option<serde_json::Value>,
    mode: Mode,
}

impl From<Lease> for LockHolders {
    fn from(lease: Lease) -> Self {
        // An exclusive lock's one holder is its lease.
        let holders = lease.holders.unwrap_or_else(|| {
            vec![Holder {
                fencing_token: lease.fencing_token,
                owner: lease.owner,
                acquired_at: lease.acquired_at,
                expires_at: lease.expires_at,
            }]
        });
        Self { mode: lease.mode.unwrap_or(Mode::Exclusive), holders }
    }
}

impl LockRequest {
    pub(crate) fn new(client: Client, name: String) -> Self {
        Self {
            client,
            namespace: None,
            name,
            ttl: None,
            wait: None,
            owner: None,
            metadata: None,
            mode: Mode::Exclusive,
        }
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

    /// How long [`acquire`](Self::acquire) waits for a held lock.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Who holds it, for people reading the lock's state and audit trail.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Any JSON to keep with the lease.
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Acquires a shared (read) lease instead of an exclusive one: any
    /// number of shared holders at once, each with its own token, fencing
    /// token and lease, while an exclusive holder excludes them all.
    pub fn shared(self) -> Self {
        self.mode(Mode::Shared)
    }

    /// The mode an acquire asks for (default: exclusive).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Acquires the lock, waiting up to the [`wait`](Self::wait) you set
    /// (none by default) for its holder to let go. The server queues
    /// waiters fairly where it supports waiting; otherwise this polls,
    /// guided by the server's `Retry-After`.
    pub async fn acquire(self) -> Result<LockGuard, Error> {
        acquire_within(self.wait, |wait| self.acquire_once(wait)).await
    }

    /// One attempt to acquire, without waiting: [`Error::Held`] if the lock
    /// is held.
    pub async fn try_acquire(self) -> Result<LockGuard, Error> {
        self.acquire_once(Duration::ZERO).await
    }

    async fn acquire_once(&self, wait: Duration) -> Result<LockGuard, Error> {
        let mut call = Call::new(Method::POST, self.endpoint().path).idempotent();
        call.body = Some(self.acquire_body());
        if !wait.is_zero() {
            // As a query parameter: a server without waiting ignores it and
            // answers at once, and `acquire` then polls.
            call.query.push(("wait", wait.as_secs().to_string()));
            call.extra_timeout = Some(wait);
        }
        let answer = self.client.send(&call).await?;
        let grant: Grant = answer.parse()?;
        LockGuard::start(self.clone(), grant, answer.sent).await
    }

    fn acquire_body(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        if let Some(ttl) = self.ttl {
            body.insert("ttl_seconds".into(), whole_seconds(ttl).into());
        }
        if let Some(owner) = &self.owner {
            body.insert("owner".into(), owner.clone().into());
        }
        if let Some(metadata) = &self.metadata {
            body.insert("metadata".into(), metadata.clone());
        }
        // Only when shared, so an exclusive acquire reads as it always has.
        if self.mode == Mode::Shared {
            body.insert("mode".into(), "shared".into());
        }
        body.into()
    }

    /// The lock's current lease, or [`Error::NotHeld`]. A lock held shared
    /// has several, in [`Lease::holders`]; [`holders`](Self::holders) reads
    /// every lock's the same way.
    pub async fn status(&self) -> Result<Lease, Error> {
        self.client.send(&Call::new(Method::GET, self.endpoint().path)).await?.parse()
    }

    /// The lock's mode and every holder's lease, or [`Error::NotHeld`].
    pub async fn holders(&self) -> Result<LockHolders, Error> {
        Ok(self.status().await?.into())
    }

    /// Renews the lease `token` stands for, for `ttl` (default: its own).
    /// [`LockGuard`] does this for you; this is for holders that keep the
    /// token elsewhere (`leasehold lock renew`).
    pub async fn renew(&self, token: &LockToken, ttl: Option<Duration>) -> Result<Lease, Error> {
        let answer = self.endpoint().renew_answer(token, ttl).await?;
        answer.parse()
    }

    /// Ends the lease `token` stands for and grants the next one in the
    /// same step (new token, higher fencing token), to pass on to another
    /// holder, who takes it up with [`adopt`](Self::adopt).
    pub async fn handover(
        &self,
        token: &LockToken,
        owner: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<(Lease, LockToken), Error> {
        let mut call = Call::new(Method::POST, format!("{}/handover", self.endpoint().path)).idempotent();
        call.lock_token = Some(token.expose().to_owned());
        let mut body = serde_json::Map::new();
        if let Some(owner) = owner {
            body.insert("owner".into(), owner.into());
        }
        if let Some(ttl) = ttl {
            body.insert("ttl_seconds".into(), whole_seconds(ttl).into());
        }
        call.body = Some(body.into());
        let grant: Grant = self.client.send(&call).await?.parse()?;
        Ok((grant.lease, LockToken::new(grant.lock_token)))
    }

    /// Takes up a lease acquired elsewhere (a token handed over, or printed
    /// by `leasehold lock acquire`): renews it once and heartbeats it from
    /// then on, as if this process had acquired it.
    pub async fn adopt(self, token: LockToken) -> Result<LockGuard, Error> {
        let answer = self.endpoint().renew_answer(&token, None).await?;
        let lease: Lease = answer.parse()?;
        let grant = Grant { lease, lock_token: token.expose().to_owned() };
        LockGuard::start(self, grant, answer.sent).await
    }

    /// Releases the lease `token` stands for. `Ok` means it was held until
    /// this release; [`Error::LeaseLost`] says how it had been lost before;
    /// a transient error means the outcome is unknown (the lease lapses at
    /// its expiry if the release did not happen).
    pub async fn release(&self, token: &LockToken) -> Result<(), Error> {
        self.endpoint().release(token).await
    }

    /// The lock's audit events as they commit, from now or after the cursor
    /// `after`: [`Watch::next`] waits for each, reconnecting by itself.
    pub fn watch(&self, after: Option<&str>) -> Watch {
        Watch::new(self.client.clone(), format!("{}/events", self.endpoint().path), after.map(str::to_owned))
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::named(self.client.clone(), self.namespace.as_deref(), "locks", &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_token_does_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", LockToken::new("secret")), "LockToken(<redacted>)");
    }

    #[test]
    fn an_exclusive_locks_one_holder_is_its_lease() {
        let body = serde_json::json!({"namespace": "a", "name": "b", "fencing_token": 7, "owner": "me",
            "acquired_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:01:00Z",
            "ttl_seconds": 60, "mode": "exclusive"});
        let holders = LockHolders::from(serde_json::from_value::<Lease>(body).unwrap());
        assert_eq!(holders.mode, Mode::Exclusive);
        assert_eq!(holders.holders.len(), 1);
        assert_eq!((holders.holders[0].fencing_token, holders.holders[0].owner.as_deref()), (7, Some("me")));
    }

    #[test]
    fn only_a_shared_acquire_names_its_mode() {
        let client = Client::new("http://127.0.0.1:1", "k").unwrap();
        let exclusive = client.lock("a").acquire_body();
        let shared = client.lock("a").shared().acquire_body();
        assert_eq!(exclusive.get("mode"), None);
        assert_eq!(shared["mode"], "shared");
    }
}
