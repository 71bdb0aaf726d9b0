//! A semaphore client: takes a permit of one of `SEMAPHORES` semaphores of
//! `SEMAPHORE_LIMIT` permits, works a stretch or a few (renewing the permit
//! between them), gives it back, repeat. Fewer permits than such clients, so
//! semaphores are full often and a held permit must keep others out.

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{work, Client, NAMESPACE};
use crate::clock;
use crate::history::{Kind, Op};

const SEMAPHORES: u32 = 2;
pub const SEMAPHORE_LIMIT: usize = 3;

impl Client {
    /// One permit: returns whether the acquire succeeded.
    pub(super) async fn hold_permit(&mut self) -> bool {
        self.lease += 1;
        let semaphore = rand::thread_rng().gen_range(0..SEMAPHORES);
        let Some(token) = self.permit_op(Kind::SemaphoreAcquire, semaphore, None).await else { return false };
        let mut sent = self.history.last().expect("just recorded").invoke;
        for stretch in 0..rand::thread_rng().gen_range(1..=3) {
            if stretch > 0 {
                if self.permit_op(Kind::SemaphoreRenew, semaphore, Some(&token)).await.is_none() {
                    return true;
                }
                sent = self.history.last().expect("just recorded").invoke;
            }
            if !self.trusts(sent) {
                return true; // the permit may be gone: let it lapse
            }
            work().await;
        }
        self.permit_op(Kind::SemaphoreRelease, semaphore, Some(&token)).await;
        true
    }

    /// One permit operation; returns the permit's lock token on success.
    async fn permit_op(&mut self, kind: Kind, semaphore: u32, token: Option<&str>) -> Option<String> {
        let op = Op::new(self.config.id, kind, semaphore, self.lease, clock::now());
        let body = self.call(op, |client, key| client.permit_request(kind, semaphore, token, key)).await?;
        body.get("lock_token").and_then(Value::as_str).or(token).map(str::to_owned)
    }

    fn permit_request(
        &self,
        kind: Kind,
        semaphore: u32,
        token: Option<&str>,
        key: &str,
    ) -> (reqwest::RequestBuilder, StatusCode) {
        let path = format!("{}/v1/namespaces/{NAMESPACE}/semaphores/sem-{semaphore}", self.replica_url());
        let (request, ok) = match kind {
            Kind::SemaphoreAcquire => {
                let body = json!({
                    "limit": SEMAPHORE_LIMIT,
                    "ttl_seconds": self.config.ttl.as_secs(),
                    "owner": self.owner(),
                    "wait_seconds": self.wait_seconds(),
                });
                (self.http.post(path).json(&body), StatusCode::CREATED)
            }
            Kind::SemaphoreRenew => {
                (self.http.post(format!("{path}/renew")).json(&json!({})), StatusCode::OK)
            }
            _ => (self.http.delete(path), StatusCode::NO_CONTENT),
        };
        let mut request = request.bearer_auth(&self.config.key).header("Idempotency-Key", key);
        if let Some(token) = token {
            request = request.header("Lock-Token", token);
        }
        (request, ok)
    }
}
