//! One client process: acquire a random lock, do read-work-write cycles on
//! its resources while the lease lasts (renewing between cycles), release,
//! repeat. Odd-numbered clients queue for a held lock (`WAIT_SECONDS`), so the
//! durable waiting queue and its cross-replica wake-ups are under fault too;
//! even-numbered ones fail fast. Every fourth client (2, 6, 10, ...) takes the
//! same locks through the Locklock API instead, with a secret per lease: no
//! renew and no fencing token there, so it only holds the lock for a moment
//! (the checker holds its windows against everyone else's). Every other
//! fourth client (0, 4, 8, ...) hands its lease over to itself between cycles
//! instead of renewing: a new lock token and a higher fencing token in one
//! step. Every operation goes into the history. Clients are processes so that SIGSTOP freezes one
//! for real: its timers, sockets and heartbeats all stop, as in a GC pause or
//! a swapped-out VM.
//!
//! Clients of the other roles take semaphores' permits (`semaphores`), sets
//! of the same locks (`lock_sets`) or shared leases of some (`readers`)
//! under the same faults.

mod lock_sets;
mod readers;
mod semaphores;

use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::clock::{self, nanos};
use crate::history::{Kind, Op, Outcome};
use crate::resource::{Reply, Request};

pub use semaphores::SEMAPHORE_LIMIT;

pub const NAMESPACE: &str = "chaos";

/// What a client process takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Plain locks, through every API (by id, as above).
    Locks,
    /// Permits of the semaphores `sem-0`, `sem-1`, ...
    Semaphores,
    /// Sets of the lock clients' locks.
    LockSets,
    /// Shared leases of a few of the lock clients' locks.
    Readers,
}

pub struct ClientConfig {
    pub id: u32,
    pub role: Role,
    pub replicas: Vec<String>,
    pub key: String,
    pub resource_port: u16,
    pub locks: u32,
    pub ttl: Duration,
    pub until: u64,
}

/// Stops trusting a lease this long before send time + TTL.
const SAFETY: Duration = Duration::from_millis(400);
const ATTEMPTS: u32 = 3;
/// How long a queueing client waits for a held lock: under the TTL, so the
/// lease's send time + TTL stays a safe (early) end for the holder.
const WAIT_SECONDS: u64 = 1;

/// The API a lock operation goes through.
#[derive(Clone, Copy)]
enum Via<'a> {
    /// The native API; renew and release carry the lease's lock token.
    Native(Option<&'a str>),
    /// Locklock's `/lock/key/...`, with the lease's secret.
    Locklock(&'a str),
}

struct Client {
    config: ClientConfig,
    http: reqwest::Client,
    replica: usize,
    lease: u64,
    history: Vec<Op>,
    resource_in: Lines<BufReader<OwnedReadHalf>>,
    resource_out: OwnedWriteHalf,
}

pub async fn run(config: ClientConfig) -> anyhow::Result<Vec<Op>> {
    let stream = TcpStream::connect(("127.0.0.1", config.resource_port)).await?;
    let (read, write) = stream.into_split();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(1))
        .build()?;
    let replica = config.id as usize % config.replicas.len();
    let mut client = Client {
        config,
        http,
        replica,
        lease: 0,
        history: Vec::new(),
        resource_in: BufReader::new(read).lines(),
        resource_out: write,
    };
    while clock::now() < client.config.until {
        let held = match client.config.role {
            Role::Locks => {
                let lock = rand::thread_rng().gen_range(0..client.config.locks);
                client.hold(lock).await?
            }
            Role::Semaphores => client.hold_permit().await,
            Role::LockSets => client.hold_set().await,
            Role::Readers => client.hold_shared().await,
        };
        if !held {
            let pause = rand::thread_rng().gen_range(10..60);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
    Ok(client.history)
}

impl Client {
    fn uses_locklock(&self) -> bool {
        self.config.id % 4 == 2
    }

    fn hands_over(&self) -> bool {
        self.config.id % 4 == 0
    }

    /// How long this client queues for what is taken: odd ids wait, even
    /// ids fail fast.
    fn wait_seconds(&self) -> u64 {
        if self.config.id % 2 == 1 {
            WAIT_SECONDS
        } else {
            0
        }
    }

    fn owner(&self) -> String {
        format!("client-{}", self.config.id)
    }

    fn replica_url(&self) -> &str {
        &self.config.replicas[self.replica]
    }

    /// Whether a lease whose last grant or renewal was sent at `sent` can
    /// still be trusted for a stretch of work.
    fn trusts(&self, sent: u64) -> bool {
        clock::now() + nanos(SAFETY) < sent + nanos(self.config.ttl)
    }

    /// One lease: returns whether the acquire succeeded.
    async fn hold(&mut self, lock: u32) -> anyhow::Result<bool> {
        self.lease += 1;
        if self.uses_locklock() {
            return self.hold_through_locklock(lock).await;
        }
        let acquired = self.http_op(Kind::Acquire, lock, Via::Native(None)).await;
        let Some((Some(mut token), Some(mut fencing))) = acquired else { return Ok(false) };
        let mut sent = self.history.last().expect("just recorded").invoke;
        let cycles = rand::thread_rng().gen_range(1..=3);
        for cycle in 0..cycles {
            if !self.trusts(sent) {
                return Ok(true); // the lease may be gone: let it lapse
            }
            if !self.critical_section(lock, fencing).await? {
                return Ok(true);
            }
            if cycle + 1 < cycles {
                if self.hands_over() {
                    let from = self.lease;
                    self.lease += 1;
                    let handed = self.http_op(Kind::Handover, lock, Via::Native(Some(&token))).await;
                    self.history.last_mut().expect("just recorded").handed_from = Some(from);
                    let Some((Some(next), Some(next_fencing))) = handed else { return Ok(true) };
                    (token, fencing) = (next, next_fencing);
                } else if self.http_op(Kind::Renew, lock, Via::Native(Some(&token))).await.is_none() {
                    return Ok(true);
                }
                sent = self.history.last().expect("just recorded").invoke;
            }
        }
        self.http_op(Kind::Release, lock, Via::Native(Some(&token))).await;
        Ok(true)
    }

    /// A Locklock lease: acquire with a fresh secret, work a little within
    /// the TTL, release with the secret.
    async fn hold_through_locklock(&mut self, lock: u32) -> anyhow::Result<bool> {
        let secret = uuid::Uuid::new_v4().to_string();
        if self.http_op(Kind::Acquire, lock, Via::Locklock(&secret)).await.is_none() {
            return Ok(false);
        }
        let sent = self.history.last().expect("just recorded").invoke;
        let work = Duration::from_millis(rand::thread_rng().gen_range(20..80));
        if clock::now() + nanos(work + SAFETY) < sent + nanos(self.config.ttl) {
            tokio::time::sleep(work).await;
            self.http_op(Kind::Release, lock, Via::Locklock(&secret)).await;
        }
        Ok(true)
    }

    /// Read both resources, work a little, write both incremented. A pause
    /// between the read and the write is what fencing exists for.
    async fn critical_section(&mut self, lock: u32, token: i64) -> anyhow::Result<bool> {
        let mut read = Op::new(self.config.id, Kind::Read, lock, self.lease, clock::now());
        let request = Request { write: false, client: self.config.id, lock, token, fenced: 0, control: 0 };
        let seen = self.resource(&request).await?;
        read.complete = clock::now();
        read.fencing_token = Some(token);
        read.outcome = if seen.fenced_ok { Outcome::Ok } else { Outcome::Fail };
        (read.fenced, read.control) = (Some(seen.fenced), Some(seen.control));
        self.history.push(read);
        if !seen.fenced_ok {
            return Ok(false);
        }
        work().await;
        let mut write = Op::new(self.config.id, Kind::Write, lock, self.lease, clock::now());
        let request = Request {
            write: true,
            client: self.config.id,
            lock,
            token,
            fenced: seen.fenced + 1,
            control: seen.control + 1,
        };
        let done = self.resource(&request).await?;
        write.complete = clock::now();
        write.outcome = Outcome::Ok;
        write.fencing_token = Some(token);
        write.fenced_ok = Some(done.fenced_ok);
        (write.fenced, write.control) = (Some(request.fenced), Some(request.control));
        self.history.push(write);
        Ok(done.fenced_ok)
    }

    async fn resource(&mut self, request: &Request) -> anyhow::Result<Reply> {
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        self.resource_out.write_all(&line).await?;
        let reply = self.resource_in.next_line().await?.ok_or_else(|| anyhow::anyhow!("resource closed"))?;
        Ok(serde_json::from_str(&reply)?)
    }

    /// One logical lock operation: `call` with the request `via` builds.
    /// Returns the lock token and fencing token on success.
    async fn http_op(
        &mut self,
        kind: Kind,
        lock: u32,
        via: Via<'_>,
    ) -> Option<(Option<String>, Option<i64>)> {
        let mut op = Op::new(self.config.id, kind, lock, self.lease, clock::now());
        if let Via::Locklock(_) = via {
            op.api = Some("locklock".into());
        }
        op.shared = self.config.role == Role::Readers;
        let body = self
            .call(op, |client, key| match via {
                Via::Native(token) => client.native_request(kind, lock, token, key),
                Via::Locklock(secret) => client.locklock_request(kind, lock, secret),
            })
            .await?;
        let token = match via {
            Via::Native(token) => token,
            Via::Locklock(_) => None,
        };
        let lock_token = body.get("lock_token").and_then(Value::as_str).map(str::to_owned);
        let fencing = body.get("fencing_token").and_then(Value::as_i64);
        Some((lock_token.or_else(|| token.map(str::to_owned)), fencing))
    }

    /// Sends what `request` builds (on the current replica, with the
    /// operation's Idempotency-Key), retried on an unknown outcome on another
    /// replica while the lease could still matter, and records `op`. Returns
    /// the answer's body on success.
    async fn call(
        &mut self,
        mut op: Op,
        request: impl Fn(&Self, &str) -> (reqwest::RequestBuilder, StatusCode),
    ) -> Option<Value> {
        let idempotency_key = uuid::Uuid::new_v4().to_string();
        let mut result = None;
        while op.attempts < ATTEMPTS {
            op.attempts += 1;
            let (outcome, status, body) = self.send(request(self, &idempotency_key)).await;
            op.status = status;
            op.outcome = outcome;
            op.reason = body.pointer("/error/reason").and_then(Value::as_str).map(str::to_owned);
            if outcome == Outcome::Ok {
                op.fencing_token = body.get("fencing_token").and_then(Value::as_i64);
                op.token_hash = body.get("lock_token").and_then(Value::as_str).map(token_hash);
                result = Some(body);
            }
            if status.is_none() {
                self.replica = (self.replica + 1) % self.config.replicas.len();
            }
            let worth_retrying = clock::now() + nanos(SAFETY) < op.invoke + nanos(self.config.ttl);
            if outcome != Outcome::Unknown || !worth_retrying {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        op.complete = clock::now();
        self.history.push(op);
        result
    }

    /// One attempt: the request, and its outcome (`ok` is success's status).
    async fn send(
        &self,
        (request, ok): (reqwest::RequestBuilder, StatusCode),
    ) -> (Outcome, Option<u16>, Value) {
        match request.send().await {
            // Refused before anything was sent: nothing happened.
            Err(e) if e.is_connect() => (Outcome::Fail, None, Value::Null),
            Err(_) => (Outcome::Unknown, None, Value::Null),
            Ok(response) => {
                let status = response.status();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                let outcome = match status {
                    s if s == ok => Outcome::Ok,
                    s if s.is_server_error() => Outcome::Unknown,
                    _ => Outcome::Fail,
                };
                (outcome, Some(status.as_u16()), body)
            }
        }
    }

    fn native_request(
        &self,
        kind: Kind,
        lock: u32,
        token: Option<&str>,
        key: &str,
    ) -> (reqwest::RequestBuilder, StatusCode) {
        let path = format!("{}/v1/namespaces/{NAMESPACE}/locks/lock-{lock}", self.replica_url());
        let (method, url, ok) = match kind {
            Kind::Acquire => (Method::POST, path, StatusCode::CREATED),
            Kind::Renew => (Method::POST, format!("{path}/renew"), StatusCode::OK),
            Kind::Handover => (Method::POST, format!("{path}/handover"), StatusCode::CREATED),
            _ => (Method::DELETE, path, StatusCode::NO_CONTENT),
        };
        let ttl = self.config.ttl.as_secs();
        let (wait, owner) = (self.wait_seconds(), self.owner());
        let mut body = json!({ "ttl_seconds": ttl, "owner": &owner, "wait_seconds": wait });
        if self.config.role == Role::Readers {
            body["mode"] = json!("shared");
        }
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.config.key)
            .header("Idempotency-Key", key)
            .json(&body);
        if kind == Kind::Renew {
            request = request.json(&json!({}));
        } else if kind == Kind::Handover {
            request = request.json(&json!({ "ttl_seconds": ttl, "owner": owner }));
        } else if kind == Kind::Release {
            request = request.body("");
        }
        if let Some(token) = token {
            request = request.header("Lock-Token", token);
        }
        (request, ok)
    }

    /// Locklock: acquire (201) or release (204) with the lease's secret. It
    /// takes no Idempotency-Key: a retried acquire that had been granted
    /// meets 409, and that lease just lapses.
    fn locklock_request(&self, kind: Kind, lock: u32, secret: &str) -> (reqwest::RequestBuilder, StatusCode) {
        let url = format!("{}/lock/key/lock-{lock}", self.replica_url());
        let (request, body, ok) = match kind {
            Kind::Acquire => {
                let ttl = self.config.ttl.as_secs();
                (self.http.post(url), json!({ "secret": secret, "expires_in": ttl }), StatusCode::CREATED)
            }
            _ => (self.http.delete(url), json!({ "secret": secret }), StatusCode::NO_CONTENT),
        };
        (request.bearer_auth(&self.config.key).json(&body), ok)
    }
}

/// A stretch of work under a lease.
async fn work() {
    let millis = rand::thread_rng().gen_range(20..80);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// SHA-256 of a lock token in hex, as `lock_events.token_hash` holds it.
pub fn token_hash(token: &str) -> String {
    let hash = leasehold::domain::LockToken::presented(token).hash();
    hash.0.iter().map(|b| format!("{b:02x}")).collect()
}
