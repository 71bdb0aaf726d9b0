//! A named lock: acquire it (into a [`LockGuard`]), or read, renew and
//! release it by token.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::{Answer, Call, Client};
use crate::error::{Error, LostReason};
use crate::guard::LockGuard;

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

/// The longest wait asked of the server in one request (the default plans'
/// limit); a longer [`LockRequest::wait`] asks again for the rest.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(30);

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
}

impl LockRequest {
    pub(crate) fn new(client: Client, name: String) -> Self {
        Self { client, namespace: None, name, ttl: None, wait: None, owner: None, metadata: None }
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

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Acquires the lock, waiting up to the [`wait`](Self::wait) you set
    /// (none by default) for its holder to let go. The server queues
    /// waiters fairly where it supports waiting; otherwise this polls,
    /// guided by the server's `Retry-After`.
    pub async fn acquire(self) -> Result<LockGuard, Error> {
        let Some(wait) = self.wait.filter(|w| !w.is_zero()) else {
            return self.try_acquire().await;
        };
        let deadline = Instant::now() + wait;
        let mut poll = Duration::from_millis(50);
        let mut server_waits = true;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ask = if server_waits { left.min(MAX_SERVER_WAIT) } else { Duration::ZERO };
            match self.acquire_once(ask).await {
                // A plan that allows less waiting per request: poll instead.
                Err(Error::Invalid { code, .. }) if code == "invalid_wait" && server_waits => {
                    server_waits = false;
                }
                Err(Error::Held { retry_after, .. }) if !left.is_zero() => {
                    let pause = retry_after.unwrap_or(poll).min(poll).min(left);
                    poll = (poll * 2).min(Duration::from_secs(1));
                    tokio::time::sleep(pause).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// One attempt to acquire, without waiting: [`Error::Held`] if the lock
    /// is held.
    pub async fn try_acquire(self) -> Result<LockGuard, Error> {
        self.acquire_once(Duration::ZERO).await
    }

    async fn acquire_once(&self, wait: Duration) -> Result<LockGuard, Error> {
        let mut call = Call::new(Method::POST, self.path("")).idempotent();
        call.body = Some(self.acquire_body());
        if !wait.is_zero() {
            // As a query parameter: a server without waiting ignores it and
            // answers at once, and `acquire` then polls.
            call.query.push(("wait", wait.as_secs().to_string()));
            call.extra_timeout = Some(wait);
        }
        let answer = self.client.send(&call).await?;
        let grant: Grant = answer.parse()?;
        Ok(LockGuard::start(self.clone(), grant, answer.sent))
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
        body.into()
    }

    /// The lock's current lease, or [`Error::NotHeld`].
    pub async fn status(&self) -> Result<Lease, Error> {
        self.client.send(&Call::new(Method::GET, self.path(""))).await?.parse()
    }

    /// Renews the lease `token` stands for, for `ttl` (default: its own).
    /// [`LockGuard`] does this for you; this is for holders that keep the
    /// token elsewhere (`leasehold lock renew`).
    pub async fn renew(&self, token: &LockToken, ttl: Option<Duration>) -> Result<Lease, Error> {
        let answer = self.renew_answer(token, ttl).await?;
        answer.parse()
    }

    pub(crate) async fn renew_answer(
        &self,
        token: &LockToken,
        ttl: Option<Duration>,
    ) -> Result<Answer, Error> {
        let mut call = Call::new(Method::POST, self.path("/renew")).idempotent();
        call.lock_token = Some(token.expose().to_owned());
        if let Some(ttl) = ttl {
            call.body = Some(serde_json::json!({ "ttl_seconds": whole_seconds(ttl) }));
        }
        self.client.send(&call).await
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
        let mut call = Call::new(Method::POST, self.path("/handover")).idempotent();
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
        let answer = self.renew_answer(&token, None).await?;
        let lease: Lease = answer.parse()?;
        let grant = Grant { lease, lock_token: token.expose().to_owned() };
        Ok(LockGuard::start(self, grant, answer.sent))
    }

    /// Releases the lease `token` stands for. `Ok` means it was held until
    /// this release; [`Error::LeaseLost`] says how it had been lost before;
    /// a transient error means the outcome is unknown (the lease lapses at
    /// its expiry if the release did not happen).
    pub async fn release(&self, token: &LockToken) -> Result<(), Error> {
        let mut call = Call::new(Method::DELETE, self.path("")).idempotent();
        call.lock_token = Some(token.expose().to_owned());
        let answer = self.client.send(&call).await?;
        if answer.is_success() {
            return Ok(());
        }
        match answer.error() {
            // An earlier attempt whose answer was lost did the release (a
            // server without Idempotency-Key support says so this way).
            Error::LeaseLost { reason: LostReason::Released } if answer.retried => Ok(()),
            other => Err(other),
        }
    }

    fn path(&self, suffix: &str) -> String {
        let name = encode_segment(&self.name);
        match &self.namespace {
            Some(ns) => format!("/v1/namespaces/{}/locks/{name}{suffix}", encode_segment(ns)),
            None => format!("/v1/locks/{name}{suffix}"),
        }
    }
}

fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Percent-encodes everything but unreserved characters, so a name can
/// never change the route (`a/renew`) however it is spelled.
fn encode_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cannot_change_the_route() {
        assert_eq!(encode_segment("a/renew"), "a%2Frenew");
        assert_eq!(encode_segment("jobs:nightly@host-1.x_y"), "jobs:nightly@host-1.x_y");
        assert_eq!(encode_segment("a b?"), "a%20b%3F");
    }

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
    }

    #[test]
    fn a_lock_token_does_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", LockToken::new("secret")), "LockToken(<redacted>)");
    }
}
