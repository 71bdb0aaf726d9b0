//! Where a lease lives on the server, and the two calls every kind of lease
//! shares: renew (`POST {path}/renew`) and release (`DELETE {path}`), each
//! with the lease's token in `Lock-Token`.

use std::time::Duration;

use reqwest::Method;

use crate::client::{Answer, Call, Client};
use crate::error::{Error, LostReason};
use crate::lock::LockToken;

/// A lease's resource: a lock, a semaphore or a lock set.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub client: Client,
    pub path: String,
}

impl Endpoint {
    /// `/v1/{kind}/{name}`, or `/v1/namespaces/{namespace}/{kind}/{name}`.
    pub fn named(client: Client, namespace: Option<&str>, kind: &str, name: &str) -> Self {
        Self { client, path: format!("{}/{}", collection(namespace, kind), encode_segment(name)) }
    }

    pub async fn renew_answer(&self, token: &LockToken, ttl: Option<Duration>) -> Result<Answer, Error> {
        let mut call = Call::new(Method::POST, format!("{}/renew", self.path)).idempotent();
        call.lock_token = Some(token.expose().to_owned());
        if let Some(ttl) = ttl {
            call.body = Some(serde_json::json!({ "ttl_seconds": whole_seconds(ttl) }));
        }
        self.client.send(&call).await
    }

    /// `Ok` means it was held until this release; [`Error::LeaseLost`] says
    /// how it had been lost before; a transient error means the outcome is
    /// unknown (the lease lapses at its expiry if the release did not happen).
    pub async fn release(&self, token: &LockToken) -> Result<(), Error> {
        let mut call = Call::new(Method::DELETE, self.path.clone()).idempotent();
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
}

/// `/v1/{kind}`, or `/v1/namespaces/{namespace}/{kind}`.
pub(crate) fn collection(namespace: Option<&str>, kind: &str) -> String {
    match namespace {
        Some(ns) => format!("/v1/namespaces/{}/{kind}", encode_segment(ns)),
        None => format!("/v1/{kind}"),
    }
}

pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Percent-encodes everything but unreserved characters, so a name can
/// never change the route (`a/renew`) however it is spelled.
pub(crate) fn encode_segment(raw: &str) -> String {
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
    fn namespaced_paths_put_the_namespace_first() {
        assert_eq!(collection(Some("a b"), "semaphores"), "/v1/namespaces/a%20b/semaphores");
        assert_eq!(collection(None, "lock-sets"), "/v1/lock-sets");
    }
}
