//! The orchestrator: sets the cluster up, starts the clients and the nemesis,
//! heals, probes every lock, and checks the history. `--ha` runs go to
//! `ha::run` instead, on the same arguments.

use std::path::PathBuf;
use std::time::Duration;

use crate::checker;
use crate::client::NAMESPACE;
use crate::clock::{self, nanos};
use crate::cluster::{Postgres, Replica};
use crate::nemesis::Nemesis;
use crate::proxy::Proxy;
use crate::resource::Resources;
use crate::set_trail;
use crate::workload::{self, Workload};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Length of the workload [default: 150; with --ha 120].
    #[arg(long)]
    pub duration_seconds: Option<u64>,
    /// The long run: 30 minutes instead (overrides --duration-seconds).
    #[arg(long)]
    pub long: bool,
    /// Lock clients.
    #[arg(long, default_value_t = 32)]
    pub clients: u32,
    /// Clients taking permits of two semaphores of 3 (not with --ha).
    #[arg(long, default_value_t = 6)]
    pub semaphore_clients: u32,
    /// Clients taking sets of the lock clients' locks (not with --ha).
    #[arg(long, default_value_t = 6)]
    pub set_clients: u32,
    /// Clients taking shared leases of locks 0-3 (not with --ha).
    #[arg(long, default_value_t = 4)]
    pub reader_clients: u32,
    #[arg(long, default_value_t = 16)]
    pub locks: u32,
    #[arg(long, default_value_t = 2)]
    pub ttl_seconds: u64,
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Fail unless the run recorded at least this many lock operations
    /// [default: 10,000; with --ha 4,000].
    #[arg(long)]
    pub min_operations: Option<usize>,
    /// Where the private PostgreSQL cluster and the run's files live.
    #[arg(long, default_value = "target/chaos")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 26400)]
    pub postgres_port: u16,
    /// The `leasehold` binary [default: beside this one].
    #[arg(long)]
    pub leasehold: Option<PathBuf>,
    /// Against a Patroni cluster of three PostgreSQL nodes instead, with
    /// database faults: primary killed, stopped, switched over or cut off,
    /// a standby killed.
    #[arg(long)]
    pub ha: bool,
    /// The script that starts and stops the Patroni cluster (--ha).
    #[arg(long, default_value = "deploy/ha/cluster.sh")]
    pub cluster_script: PathBuf,
    /// Where the Patroni cluster lives (--ha) [default: DIR/ha].
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// The cluster's base port (--ha): PostgreSQL on +1..+3, Patroni's REST
    /// API on +101..+103, etcd on +200 and +201. Below Linux's ephemeral
    /// range (32768-60999): a node restarted during the run must bind its
    /// ports again, which fails while an outgoing connection holds one.
    #[arg(long, default_value_t = 24430)]
    pub cluster_base_port: u16,
}

impl RunArgs {
    pub fn duration(&self) -> Duration {
        let short = if self.ha { 120 } else { 150 };
        Duration::from_secs(if self.long { 1800 } else { self.duration_seconds.unwrap_or(short) })
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }

    pub fn leasehold_binary(&self) -> anyhow::Result<PathBuf> {
        Ok(match &self.leasehold {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("leasehold"),
        })
    }

    /// `DIR/last-run`, emptied.
    pub fn fresh_output(&self) -> anyhow::Result<PathBuf> {
        let out = std::path::absolute(self.dir.join("last-run"))?;
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)?;
        Ok(out)
    }

    /// Starts the replicas on `database_url`, logging to `out/replica-N.log`.
    pub async fn start_replicas(
        &self,
        database_url: &str,
        out: &std::path::Path,
        http: &reqwest::Client,
    ) -> anyhow::Result<Vec<Replica>> {
        let binary = self.leasehold_binary()?;
        let mut replicas = Vec::new();
        for n in 0..self.replicas {
            let mut replica = Replica::new(&binary, database_url, out.join(format!("replica-{n}.log")))?;
            replica.start(http).await?;
            replicas.push(replica);
        }
        Ok(replicas)
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let (duration, ttl) = (args.duration(), args.ttl());
    let out = args.fresh_output()?;
    println!("chaos: PostgreSQL on port {} in {}", args.postgres_port, args.dir.display());
    let postgres = Postgres::start(&args.dir, args.postgres_port).await?;
    let key = postgres.fresh_database(NAMESPACE).await?;
    let proxy = Proxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], postgres.port))).await?;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/{NAMESPACE}", proxy.port);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let mut replicas = args.start_replicas(&via_proxy, &out, &http).await?;
    let urls: Vec<String> = replicas.iter().map(Replica::url).collect();
    let resources = Resources::default();
    let resource_port = resources.serve().await?;

    let started = clock::now();
    let until = started + nanos(duration);
    println!(
        "chaos: {} clients on {} locks, {} on semaphores, {} on lock sets, {} readers, TTL {ttl:?}, for {duration:?}",
        args.clients, args.locks, args.semaphore_clients, args.set_clients, args.reader_clients
    );
    let workload = Workload {
        clients: args.clients,
        semaphore_clients: args.semaphore_clients,
        set_clients: args.set_clients,
        reader_clients: args.reader_clients,
        urls: &urls,
        key: &key,
        resource_port,
        locks: args.locks,
        ttl_seconds: args.ttl_seconds,
        until,
        out: &out,
    };
    let children = workload::spawn_clients(&workload)?;
    let pids: Vec<u32> = children.iter().map(|c| c.id().unwrap_or(0)).collect();
    // Faults stop a few seconds before the clients do, so the run ends healed.
    let mut nemesis = Nemesis {
        postgres: &postgres,
        replicas: &mut replicas,
        proxy: &proxy,
        resources: &resources,
        clients: &pids,
        ttl,
        http: http.clone(),
    };
    let faults = nemesis.run(until.saturating_sub(nanos(Duration::from_secs(5)))).await?;
    std::fs::write(out.join("faults.json"), serde_json::to_vec_pretty(&faults)?)?;
    println!("chaos: {} faults injected and healed; waiting for the clients", faults.len());
    workload::wait_for_clients(children).await?;

    let (probe_ops, at_the_end) = workload::probe(&http, &urls, &key, args.locks, ttl).await;
    let mut ops = workload::read_histories(&out, workload.all_clients())?;
    let mut recoveries = checker::recoveries(&ops, &faults, args.locks, checker::recovery_limit(ttl), until);
    recoveries.extend(at_the_end);
    ops.extend(probe_ops);
    let elapsed = Duration::from_nanos(clock::now() - started);
    let mut report = checker::check(&ops, ttl, &resources.finals(), &recoveries);
    let set_grants = set_trail::read(&postgres.url(NAMESPACE)).await?;
    checker::lock_sets::trail(&ops, &set_grants, &mut report);
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    for replica in &mut replicas {
        replica.kill().await;
    }
    postgres.stop()?;
    let min_operations = args.min_operations.unwrap_or(10_000);
    Ok(workload::verdict(&report, 0, faults.len(), min_operations, elapsed, &workload))
}
