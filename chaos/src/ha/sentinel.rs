//! Sentinel leases: before each database fault the orchestrator takes a lease
//! with a long TTL on a lock of its own; once the cluster is back it renews
//! it with the same lock token (which must answer 200 with the same fencing
//! token: the lease survived the failover) and releases it. Their operations
//! join the history, so every other check covers them too.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{token_hash, NAMESPACE};
use crate::clock::{self, nanos};
use crate::history::{Kind, Op, Outcome};

/// The client id sentinel operations are recorded under.
pub const CLIENT: u32 = 2000;
/// Sentinel locks are `lock-10000`, `lock-10001`, ...: apart from the workload's.
pub const FIRST_LOCK: u32 = 10_000;
const TTL_SECONDS: u64 = 300;
/// How long a sentinel is sought before a fault (the cluster is whole then).
const TAKE_PATIENCE: Duration = Duration::from_secs(15);
/// How long its renewal and release are retried once the cluster is back.
const PATIENCE: Duration = Duration::from_secs(60);

pub struct Sentinels {
    http: reqwest::Client,
    urls: Vec<String>,
    key: String,
    next: u32,
    pub ops: Vec<Op>,
    /// Sentinels that did not survive their fault, described.
    pub lost: Vec<String>,
    pub checked: usize,
}

/// A held sentinel lease.
pub struct Held {
    lock: u32,
    token: String,
    fencing: i64,
}

struct Answer {
    op: Op,
    body: Value,
}

impl Sentinels {
    pub fn new(http: reqwest::Client, urls: Vec<String>, key: String) -> Self {
        Self { http, urls, key, next: 0, ops: Vec::new(), lost: Vec::new(), checked: 0 }
    }

    /// Takes a fresh sentinel lease, or `None` if none could be had.
    pub async fn hold(&mut self) -> Option<Held> {
        let lock = FIRST_LOCK + self.next;
        self.next += 1;
        let answer = self.call(Kind::Acquire, lock, None, StatusCode::CREATED, TAKE_PATIENCE).await;
        let token = answer.body["lock_token"].as_str().map(str::to_owned);
        let fencing = answer.op.fencing_token;
        self.ops.push(answer.op);
        Some(Held { lock, token: token?, fencing: fencing? })
    }

    /// After the fault: the lease must still be there with the same tokens.
    pub async fn verify(&mut self, held: Held, fault: &str) {
        self.checked += 1;
        let renewed = self.call(Kind::Renew, held.lock, Some(&held.token), StatusCode::OK, PATIENCE).await;
        let (outcome, fencing) = (renewed.op.outcome, renewed.op.fencing_token);
        let status = renewed.op.status;
        self.ops.push(renewed.op);
        if outcome != Outcome::Ok || fencing != Some(held.fencing) {
            self.lost.push(format!(
                "sentinel lock-{} (fencing token {}) after {fault}: renew answered {status:?} {}, fencing token {fencing:?}",
                held.lock, held.fencing, renewed.body
            ));
        }
        let released =
            self.call(Kind::Release, held.lock, Some(&held.token), StatusCode::NO_CONTENT, PATIENCE).await;
        self.ops.push(released.op);
    }

    /// One operation, retried on every replica until it has an answer that
    /// is not a 5xx or `patience` runs out. Retries share an Idempotency-Key.
    async fn call(
        &self,
        kind: Kind,
        lock: u32,
        token: Option<&str>,
        ok: StatusCode,
        patience: Duration,
    ) -> Answer {
        let mut op = Op::new(CLIENT, kind, lock, u64::from(lock), clock::now());
        let key = uuid::Uuid::new_v4().to_string();
        let mut body = Value::Null;
        while clock::now() < op.invoke + nanos(patience) {
            let url = format!(
                "{}/v1/namespaces/{NAMESPACE}/locks/lock-{lock}{}",
                self.urls[op.attempts as usize % self.urls.len()],
                if kind == Kind::Renew { "/renew" } else { "" }
            );
            op.attempts += 1;
            let request = match kind {
                Kind::Release => self.http.delete(url),
                Kind::Renew => self.http.post(url).json(&json!({ "ttl_seconds": TTL_SECONDS })),
                _ => self.http.post(url).json(&json!({ "ttl_seconds": TTL_SECONDS, "owner": "sentinel" })),
            };
            let mut request = request.bearer_auth(&self.key).header("Idempotency-Key", &key);
            if let Some(token) = token {
                request = request.header("Lock-Token", token);
            }
            let Ok(response) = request.send().await else {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            let status = response.status();
            op.status = Some(status.as_u16());
            body = response.json().await.unwrap_or(Value::Null);
            if status.is_server_error() {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            op.outcome = if status == ok { Outcome::Ok } else { Outcome::Fail };
            op.fencing_token = body["fencing_token"].as_i64();
            op.token_hash = body["lock_token"].as_str().map(token_hash);
            op.reason = body.pointer("/error/reason").and_then(Value::as_str).map(str::to_owned);
            break;
        }
        op.complete = clock::now();
        Answer { op, body }
    }
}
