//! Arm A and C: Leasehold over HTTP, one keep-alive connection per client;
//! and A's cycle through the store alone.

use std::sync::Arc;

use anyhow::{bail, Context};
use leasehold::domain::Actor;
use leasehold::domain::{LockName, LockToken, Metadata, Owner, Plans, Principal, Ttl};
use leasehold::store::locks::{self, Acquired, LeaseChange, NewLease};
use rand::Rng;
use serde_json::value::RawValue;

use crate::http::{json_str, Conn};
use crate::load::Worker;

pub const ACQUIRE_BODY: &[u8] = br#"{"ttl_seconds":30,"owner":"bench","metadata":{"n":1}}"#;
pub const RENEW_BODY: &[u8] = br#"{"ttl_seconds":1800}"#;
pub const CONTENDED_NAMES: u32 = 4;
/// A's body with a limit: each client's own semaphore, so one permit of 10
/// is always free and the cycle measures the statement, not a queue.
pub const PERMIT_BODY: &[u8] = br#"{"limit":10,"ttl_seconds":30,"owner":"bench","metadata":{"n":1}}"#;

pub struct Client {
    conn: Conn,
    auth: String,
}

impl Client {
    pub async fn connect(addr: &str, key: &str) -> anyhow::Result<Self> {
        Ok(Self { conn: Conn::connect(addr).await?, auth: format!("Authorization: Bearer {key}\r\n") })
    }

    /// `Some(token)` on 201, `None` on 409.
    pub async fn acquire(&mut self, name: &str, body: &[u8]) -> anyhow::Result<Option<String>> {
        let answer = self.conn.call("POST", &format!("/v1/locks/{name}"), &self.auth, body).await?;
        match answer.status {
            201 => Ok(Some(json_str(&answer.body, "lock_token").context("a lock token")?)),
            409 => Ok(None),
            other => bail!("acquire answered {other}: {}", String::from_utf8_lossy(&answer.body)),
        }
    }

    pub async fn release(&mut self, name: &str, token: &str) -> anyhow::Result<()> {
        let headers = format!("{}Lock-Token: {token}\r\n", self.auth);
        let answer = self.conn.call("DELETE", &format!("/v1/locks/{name}"), &headers, b"").await?;
        expect(answer.status, 204, "release")
    }

    pub async fn renew(&mut self, name: &str, token: &str) -> anyhow::Result<()> {
        let headers = format!("{}Lock-Token: {token}\r\n", self.auth);
        let answer = self.conn.call("POST", &format!("/v1/locks/{name}/renew"), &headers, RENEW_BODY).await?;
        expect(answer.status, 200, "renew")
    }

    /// A permit of the semaphore `name`; its lock token.
    pub async fn acquire_permit(&mut self, name: &str) -> anyhow::Result<String> {
        let answer =
            self.conn.call("POST", &format!("/v1/semaphores/{name}"), &self.auth, PERMIT_BODY).await?;
        expect(answer.status, 201, "permit acquire")?;
        json_str(&answer.body, "lock_token").context("a lock token")
    }

    pub async fn release_permit(&mut self, name: &str, token: &str) -> anyhow::Result<()> {
        let headers = format!("{}Lock-Token: {token}\r\n", self.auth);
        let answer = self.conn.call("DELETE", &format!("/v1/semaphores/{name}"), &headers, b"").await?;
        expect(answer.status, 204, "permit release")
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<()> {
        let answer = self.conn.call("GET", path, "", b"").await?;
        expect(answer.status, 200, path)
    }
}

fn expect(status: u16, wanted: u16, what: &str) -> anyhow::Result<()> {
    if status != wanted {
        bail!("{what} answered {status}, not {wanted}");
    }
    Ok(())
}

/// Acquire then release, always on this client's own name.
pub struct Uncontended {
    pub client: Client,
    pub name: String,
}

impl Worker for Uncontended {
    async fn op(&mut self) -> anyhow::Result<()> {
        let token =
            self.client.acquire(&self.name, ACQUIRE_BODY).await?.context("an uncontended name was held")?;
        self.client.release(&self.name, &token).await
    }
}

/// A permit of this client's own semaphore, then its release: A's cycle on
/// a semaphore.
pub struct PermitCycle {
    pub client: Client,
    pub name: String,
}

impl Worker for PermitCycle {
    async fn op(&mut self) -> anyhow::Result<()> {
        let token = self.client.acquire_permit(&self.name).await?;
        self.client.release_permit(&self.name, &token).await
    }
}

/// A fail-fast acquire on one of four names; a winner releases at once.
pub struct Contended {
    pub client: Client,
    pub granted: u64,
}

impl Worker for Contended {
    async fn op(&mut self) -> anyhow::Result<()> {
        let name = format!("c-{}", rand::thread_rng().gen_range(1..=CONTENDED_NAMES));
        if let Some(token) = self.client.acquire(&name, ACQUIRE_BODY).await? {
            self.granted += 1;
            self.client.release(&name, &token).await?;
        }
        Ok(())
    }
}

/// Heartbeats on a random one of the held locks.
pub struct Renewer {
    pub client: Client,
    pub held: Arc<Vec<(String, String)>>,
}

impl Worker for Renewer {
    async fn op(&mut self) -> anyhow::Result<()> {
        let (name, token) = &self.held[rand::thread_rng().gen_range(0..self.held.len())];
        self.client.renew(name, token).await
    }
}

/// A route that touches no database (C), or any fixed GET.
pub struct Getter {
    pub client: Client,
    pub path: &'static str,
}

impl Worker for Getter {
    async fn op(&mut self) -> anyhow::Result<()> {
        self.client.get(self.path).await
    }
}

/// Acquires `count` locks named `r-1`.. over `clients` connections.
pub async fn hold_many(
    addr: &str,
    key: &str,
    count: usize,
    clients: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (addr, key) = (addr.to_owned(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&addr, &key).await?;
            let mut held = Vec::new();
            for i in (c..count).step_by(clients) {
                let name = format!("r-{}", i + 1);
                let token =
                    client.acquire(&name, br#"{"ttl_seconds":1800}"#).await?.context("a free name")?;
                held.push((name, token));
            }
            anyhow::Ok(held)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// Arm A's cycle without HTTP: the server's own store calls, on a pool
/// configured like the server's, from the load generator's thread. It
/// splits A's distance from B into the driver's part and the HTTP hop's.
pub struct StoreCycle {
    pool: sqlx::PgPool,
    caller: Arc<Principal>,
    name: LockName,
    owner: Owner,
    metadata: Option<Metadata>,
    ttl: Ttl,
}

impl StoreCycle {
    /// Parses once what the handler would parse from `ACQUIRE_BODY`.
    pub fn new(pool: sqlx::PgPool, caller: Arc<Principal>, name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            caller,
            name: LockName::parse(name)?,
            owner: Owner::parse("bench".to_owned())?,
            metadata: Metadata::parse(RawValue::from_string(r#"{"n":1}"#.to_owned())?)?,
            ttl: Ttl::parse(30)?,
        })
    }
}

impl Worker for StoreCycle {
    async fn op(&mut self) -> anyhow::Result<()> {
        let token = LockToken::generate().hash();
        let lease = NewLease {
            namespace: &self.caller.namespace,
            name: &self.name,
            token: &token,
            owner: Some(&self.owner),
            metadata: self.metadata.as_ref(),
            ttl: self.ttl,
            compat: None,
            max_live_locks: Some(Plans::default().business.max_live_locks),
        };
        let actor = Actor {
            key_id: Some(self.caller.key_id.as_str().to_owned()),
            account_id: Some(self.caller.account_id),
            request_id: Some(uuid::Uuid::new_v4().to_string()),
            ..Actor::default()
        };
        match locks::acquire(&self.pool, &lease, &actor).await? {
            Acquired::Granted(_) => {}
            other => bail!("an uncontended name was not granted: {other:?}"),
        }
        let change = LeaseChange::by_token(&self.caller.namespace, &self.name, &token, &actor);
        let released = locks::release(&self.pool, &change).await?;
        released.map(drop).context("the release found its lease")
    }
}
