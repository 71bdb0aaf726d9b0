//! The environment every arm shares, and one round of the arms.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sqlx::PgPool;

use crate::baseline::{self, Baseline};
use crate::dbstats::{self, Snapshot};
use crate::load::{self, Sample, Worker};
use crate::peers::{self, Peer};
use crate::pgbench::{self, Identity, Script};
use crate::report::Arm;
use crate::scenarios::{self, Client, Contended, Getter, PermitCycle, Renewer, StoreCycle, Uncontended};
use crate::setup::{self, Database, Server, Tenant};
use crate::Args;

/// An arm's name, the pool size of its own server, whether that pings
/// before every check-out, and whether it has group commit on.
type Variant = (String, u32, bool, bool);

pub struct Env {
    pub args: Args,
    db: Option<Database>,
    url: String,
    pub pool: PgPool,
    pub tenant: Tenant,
    pub server: Server,
    compare: Vec<Variant>,
    held: Arc<Vec<(String, String)>>,
    baseline: Option<Baseline>,
    redis_always: Option<Peer>,
    redis_everysec: Option<Peer>,
    etcd: Option<Peer>,
    peer_notes: Vec<String>,
    pub dir: PathBuf,
    pub clients: usize,
    start: Snapshot,
}

impl Env {
    /// Creates the bench's database and everything on it, and the baseline
    /// build's if there is one; drops them again if anything fails.
    pub async fn prepare(args: &Args) -> anyhow::Result<Self> {
        let db = Database::create(&args.database_url).await?;
        eprintln!("database {} created", db.name);
        let mut env = match Self::prepare_on(args, &db).await {
            Ok(env) => env,
            Err(error) => {
                let _ = db.drop_it().await;
                return Err(error);
            }
        };
        env.db = Some(db);
        if let Some(bin) = &args.baseline_bin {
            match Baseline::start(bin, args, &env.dir).await {
                Ok(base) => env.baseline = Some(base),
                Err(error) => {
                    let _ = env.finish().await;
                    return Err(error);
                }
            }
        }
        Ok(env)
    }

    async fn prepare_on(args: &Args, db: &Database) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("leasehold-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&db.url).await?;
        let tenant = setup::tenant(&pool).await?;
        let server = Server::start(&db.url, args.pool, args.sweep_batch, false, true)?;
        // Variants start for their arm only, so that their pools do not hold
        // connections of a PostgreSQL that others use too.
        let mut compare: Vec<Variant> = args
            .compare_pools
            .iter()
            .map(|&size| (format!("A uncontended pool={size}"), size, false, true))
            .collect();
        compare.push((
            format!("A uncontended pool={} ping every check-out", args.pool),
            args.pool,
            true,
            true,
        ));
        compare.push(("A uncontended, group commit off".to_owned(), args.pool, false, false));
        eprintln!("holding {} locks for the renew arms", args.renew_locks);
        let held = scenarios::hold_many(&server.addr, &tenant.key, args.renew_locks, 16).await?;
        let who = Identity { account_id: tenant.account_id, key_id: &tenant.key_id };
        pgbench::seed_renewals(&pool, &who, args.renew_locks as i64).await?;
        let mut env = Self {
            args: args.clone(),
            db: None,
            url: db.url.clone(),
            pool,
            tenant,
            server,
            compare,
            held: Arc::new(held),
            baseline: None,
            redis_always: None,
            redis_everysec: None,
            etcd: None,
            peer_notes: Vec::new(),
            dir,
            clients: args.clients.unwrap_or(0),
            start: Snapshot::default(),
        };
        if !args.no_peers {
            env.start_peers().await;
        }
        if env.clients == 0 {
            env.clients = env.pgbench_peak().await?;
        }
        sqlx::query("VACUUM ANALYZE locks").execute(&env.pool).await?;
        env.start = dbstats::snapshot(&env.pool).await?;
        Ok(env)
    }

    async fn start_peers(&mut self) {
        match peers::start_redis(16379, "always", &self.dir).await {
            Ok(peer) => self.redis_always = Some(peer),
            Err(e) => self.peer_notes.push(format!("redis appendfsync=always: {e:#}")),
        }
        match peers::start_redis(16380, "everysec", &self.dir).await {
            Ok(peer) => self.redis_everysec = Some(peer),
            Err(e) => self.peer_notes.push(format!("redis appendfsync=everysec: {e:#}")),
        }
        match peers::start_etcd(12379, &self.dir).await {
            Ok(peer) => self.etcd = Some(peer),
            Err(e) => self.peer_notes.push(format!("etcd: {e:#}")),
        }
    }

    /// The concurrency where pgbench's uncontended cycles peak.
    async fn pgbench_peak(&self) -> anyhow::Result<usize> {
        let mut best = (0.0, 4);
        for clients in [4, 8, 16] {
            let sample = self.pgbench(&Script::Uncontended, clients, Duration::from_secs(2)).await?;
            eprintln!("pgbench uncontended, {clients} clients: {:.0} cycles/s", sample.rate());
            if sample.rate() > best.0 {
                best = (sample.rate(), clients);
            }
        }
        eprintln!("concurrency: {} clients (where pgbench peaked)", best.1);
        Ok(best.1)
    }

    async fn pgbench(&self, script: &Script, clients: usize, duration: Duration) -> anyhow::Result<Sample> {
        // One backend per pgbench client: keep within PostgreSQL's connections.
        let clients = clients.min(PGBENCH_MAX_CLIENTS);
        let who = Identity { account_id: self.tenant.account_id, key_id: &self.tenant.key_id };
        pgbench::run(&self.db_url(), script, &who, clients, duration, &self.dir).await
    }

    fn db_url(&self) -> String {
        self.url.clone()
    }

    pub async fn clients(&self, addr: &str, n: usize) -> anyhow::Result<Vec<Client>> {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            clients.push(Client::connect(addr, &self.tenant.key).await?);
        }
        Ok(clients)
    }

    pub async fn uncontended(&self, addr: &str, n: usize, prefix: &str) -> anyhow::Result<Vec<Uncontended>> {
        let clients = self.clients(addr, n).await?;
        Ok(clients
            .into_iter()
            .enumerate()
            .map(|(i, client)| Uncontended { client, name: format!("{prefix}-{i}") })
            .collect())
    }

    /// One round: every arm once, always in the same order.
    pub async fn round(&mut self, arms: &mut BTreeMap<String, Arm>) -> anyhow::Result<()> {
        let (n, addr) = (self.clients, self.server.addr.clone());
        let workers = self.uncontended(&addr, n, "u").await?;
        self.closed(arms, "A uncontended", "cycles", workers).await?;
        let uncontended = |i, client| Uncontended { client, name: format!("b-{i}") };
        self.baseline_arm(arms, baseline::UNCONTENDED, "cycles", uncontended).await?;
        self.pgbench_arm(arms, "B uncontended", "cycles", Script::Uncontended).await?;
        self.store_arm(arms).await?;
        let clients = self.clients(&addr, n).await?;
        let permits = |(i, client)| PermitCycle { client, name: format!("sem-{i}") };
        let workers = clients.into_iter().enumerate().map(permits).collect();
        self.closed(arms, "A uncontended semaphore permits", "cycles", workers).await?;
        for (i, (name, size, ping, group_commit)) in self.compare.iter().enumerate() {
            let server = Server::start(&self.db_url(), *size, self.args.sweep_batch, *ping, *group_commit)?;
            let workers = self.uncontended(&server.addr, n, &format!("v{i}")).await?;
            self.closed(arms, name, "cycles", workers).await?;
        }
        let clients = self.clients(&addr, n).await?;
        let workers = clients.into_iter().map(|client| Contended { client, granted: 0 }).collect();
        self.closed(arms, "A contended (4 names)", "attempts", workers).await?;
        let contended = |_, client| Contended { client, granted: 0 };
        self.baseline_arm(arms, baseline::CONTENDED, "attempts", contended).await?;
        self.pgbench_arm(arms, "B contended (4 names)", "attempts", Script::Contended).await?;
        let clients = self.clients(&addr, n).await?;
        let held = self.held.clone();
        let workers = clients.into_iter().map(|client| Renewer { client, held: held.clone() }).collect();
        self.closed(arms, "A renew (held locks)", "renewals", workers).await?;
        let held = self.baseline.as_ref().map(|base| base.held.clone()).unwrap_or_default();
        let renewer = |_, client| Renewer { client, held: held.clone() };
        self.baseline_arm(arms, baseline::RENEW, "renewals", renewer).await?;
        self.pgbench_arm(arms, "B renew (held locks)", "renewals", Script::Renew(self.held.len())).await?;
        let clients = self.clients(&addr, n).await?;
        let workers = clients.into_iter().map(|client| Getter { client, path: "/healthz" }).collect();
        self.closed(arms, "C GET /healthz (no database)", "requests", workers).await?;
        self.pgbench_arm(arms, "D pgbench SELECT 1", "queries", Script::SelectOne).await?;
        self.peer_arms(arms).await
    }

    /// A's cycle through the store on a pool like the server's: no HTTP.
    async fn store_arm(&self, arms: &mut BTreeMap<String, Arm>) -> anyhow::Result<()> {
        let name = "A uncontended, store only (no HTTP)";
        if !self.selected(name) {
            return Ok(());
        }
        let pool = setup::server_pool(&self.db_url(), self.args.pool).await?;
        let caller = Arc::new(self.tenant.principal()?);
        let workers = (0..self.clients)
            .map(|i| StoreCycle::new(pool.clone(), caller.clone(), &format!("s-{i}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.closed(arms, name, "cycles", workers).await?;
        pool.close().await;
        Ok(())
    }

    /// An arm A' on the baseline build, if there is one: the same workers
    /// as its arm A, with the baseline's key (on its own database, so the
    /// same lock names do not meet A's).
    async fn baseline_arm<W: Worker>(
        &self,
        arms: &mut BTreeMap<String, Arm>,
        name: &str,
        unit: &'static str,
        worker: impl Fn(usize, Client) -> W,
    ) -> anyhow::Result<()> {
        let Some(base) = self.baseline.as_ref().filter(|_| self.selected(name)) else {
            return Ok(());
        };
        let mut workers = Vec::with_capacity(self.clients);
        for i in 0..self.clients {
            workers.push(worker(i, Client::connect(&base.addr, &base.key).await?));
        }
        self.closed(arms, name, unit, workers).await
    }

    async fn peer_arms(&self, arms: &mut BTreeMap<String, Arm>) -> anyhow::Result<()> {
        let n = self.clients;
        for (label, peer) in [("always", &self.redis_always), ("everysec", &self.redis_everysec)] {
            let Some(peer) = peer else { continue };
            for contended in [false, true] {
                let mut workers = Vec::new();
                for i in 0..n {
                    workers.push(peers::Redis::connect(&peer.addr, format!("u-{i}"), contended).await?);
                }
                let name = if contended {
                    format!("E redis {label} contended")
                } else {
                    format!("E redis {label} uncontended")
                };
                self.closed(arms, &name, if contended { "attempts" } else { "cycles" }, workers).await?;
            }
        }
        if let Some(etcd) = &self.etcd {
            let mut workers = Vec::new();
            for i in 0..n {
                workers.push(peers::Etcd::connect(&etcd.addr, format!("u-{i}"), true).await?);
            }
            self.closed(arms, "E etcd uncontended", "cycles", workers).await?;
            let mut workers = Vec::new();
            for i in 0..n {
                workers.push(peers::Etcd::connect(&etcd.addr, format!("l-{i}"), false).await?);
            }
            self.closed(arms, "E etcd uncontended, a lease per cycle", "cycles", workers).await?;
        }
        for note in &self.peer_notes {
            arms.entry(format!("E {}", note.split(':').next().unwrap_or("peer"))).or_default().note =
                Some(note.clone());
        }
        Ok(())
    }

    async fn closed<W: Worker>(
        &self,
        arms: &mut BTreeMap<String, Arm>,
        name: &str,
        unit: &'static str,
        workers: Vec<W>,
    ) -> anyhow::Result<()> {
        if !self.selected(name) {
            return Ok(());
        }
        eprintln!("  {name}");
        let (before, cpu) = (dbstats::snapshot(&self.pool).await?, self.cpu_now(name));
        let sample = load::closed(workers, Duration::from_millis(500), self.args.duration()).await;
        self.record(arms, name, unit, sample, before, cpu).await
    }

    async fn pgbench_arm(
        &self,
        arms: &mut BTreeMap<String, Arm>,
        name: &str,
        unit: &'static str,
        script: Script,
    ) -> anyhow::Result<()> {
        if !self.selected(name) {
            return Ok(());
        }
        eprintln!("  {name}");
        let (before, cpu) = (dbstats::snapshot(&self.pool).await?, self.cpu_now(name));
        let sample = self
            .pgbench(&script, self.clients, self.args.duration())
            .await
            .with_context(|| name.to_owned())?;
        self.record(arms, name, unit, sample, before, cpu).await
    }

    async fn record(
        &self,
        arms: &mut BTreeMap<String, Arm>,
        name: &str,
        unit: &'static str,
        sample: Sample,
        before: Snapshot,
        cpu: (f64, f64),
    ) -> anyhow::Result<()> {
        let after = dbstats::snapshot(&self.pool).await?;
        let arm = arms.entry(name.to_owned()).or_default();
        arm.unit = unit;
        let ops = sample.ops.max(1) as f64;
        arm.wal_bytes_per_op.push((after.wal_bytes - before.wal_bytes) / ops);
        let (machine, own) = self.cpu_now(name);
        arm.cpu_us_per_op.push((machine - cpu.0) * 1e6 / ops);
        arm.own_cpu_us_per_op.push((own - cpu.1) * 1e6 / ops);
        arm.rounds.push(sample);
        Ok(())
    }

    /// The locks table over the whole run (PostgreSQL flushes its table
    /// counters within seconds of a backend going idle, so this waits).
    pub async fn table_health(&self) -> anyhow::Result<TableHealth> {
        tokio::time::sleep(Duration::from_secs(11)).await;
        let end = dbstats::snapshot(&self.pool).await?;
        let updates = end.locks_updates - self.start.locks_updates;
        let hot = end.locks_hot_updates - self.start.locks_hot_updates;
        Ok(TableHealth {
            updates,
            hot_updates: hot,
            hot_share: hot as f64 / updates.max(1) as f64,
            start: self.start,
            end,
        })
    }

    pub async fn finish(mut self) -> anyhow::Result<()> {
        drop(self.server);
        let baseline = match self.baseline.take() {
            Some(base) => base.finish().await,
            None => Ok(()),
        };
        self.pool.close().await;
        if let Some(db) = self.db.take() {
            db.drop_it().await?;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(setup::bench_config_path());
        baseline
    }

    /// (machine-wide busy, this process's) CPU seconds; an arm A' counts the
    /// baseline server's as its own, as arm A counts its in-process server's.
    fn cpu_now(&self, arm: &str) -> (f64, f64) {
        let server = match &self.baseline {
            Some(base) if arm.starts_with("A'") => base.pid().map_or(0.0, dbstats::process_cpu_seconds),
            _ => 0.0,
        };
        (dbstats::cpu_busy_seconds(), dbstats::own_cpu_seconds() + server)
    }

    fn selected(&self, arm: &str) -> bool {
        self.args.only.as_deref().map_or(true, |only| arm.contains(only))
    }

    pub fn db_pool(&self) -> &PgPool {
        &self.pool
    }
}

#[derive(Debug, Serialize)]
pub struct TableHealth {
    pub updates: i64,
    pub hot_updates: i64,
    pub hot_share: f64,
    pub start: Snapshot,
    pub end: Snapshot,
}

/// The most clients a pgbench arm runs: one backend each, within
/// PostgreSQL's default max_connections of 100 beside the servers' pools.
const PGBENCH_MAX_CLIENTS: usize = 48;
