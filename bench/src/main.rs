//! `leasehold-bench`: Leasehold over HTTP side by side with pgbench running
//! the same SQL, the HTTP and round-trip ceilings, and Redis and etcd, in one
//! run, interleaved in rounds. See docs/benchmarks.md.

mod arms;
mod baseline;
mod cores;
mod dbstats;
mod extras;
mod http;
mod load;
mod peers;
mod pgbench;
mod report;
mod scenarios;
mod setup;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

#[derive(Debug, Parser, Clone)]
#[command(name = "leasehold-bench", about = "Leasehold against pgbench, Redis and etcd, side by side")]
pub struct Args {
    /// A PostgreSQL server where the bench may create (and drop) its own database.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    /// Rounds; every arm runs once per round, in the same order.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Measured seconds per arm and round (after a short warm-up).
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    /// Concurrent clients; by default the concurrency where pgbench peaks
    /// on uncontended cycles, among 4, 8 and 16 (PostgreSQL's connections
    /// are shared with others; 32 did not beat 16 on 2 cores).
    #[arg(long)]
    pub clients: Option<usize>,
    /// The server's pool size for every arm (the production default is 16).
    #[arg(long, default_value_t = 16)]
    pub pool: u32,
    /// Further pool sizes to compare on uncontended cycles.
    #[arg(long, value_delimiter = ',', default_value = "4")]
    pub compare_pools: Vec<u32>,
    /// Locks held while the renew-heavy arms heartbeat.
    #[arg(long, default_value_t = 10_000)]
    pub renew_locks: usize,
    /// Also measure uncontended p99 with this many live locks against 1,000.
    #[arg(long)]
    pub live_locks: Option<i64>,
    /// Also let this many leases lapse at once, and measure the sweep.
    #[arg(long)]
    pub expiry_storm: Option<i64>,
    /// The sweeper's batch size (default: the server's own default).
    #[arg(long)]
    pub sweep_batch: Option<i64>,
    /// Run only the arms whose name contains this (e.g. "renew"), for
    /// profiling one path.
    #[arg(long)]
    pub only: Option<String>,
    /// Skip Redis and etcd.
    #[arg(long)]
    pub no_peers: bool,
    /// The in-process servers' log filter; their lines go to /dev/null, as
    /// costly as writing them to a pipe. `off` measures without logging.
    #[arg(long, default_value = "info,sqlx=warn")]
    pub server_log: String,
    /// Another build of the `leasehold` binary (an older commit's, say):
    /// arms A' run it beside this build, in every round, on a database of
    /// its own, for the ratios A/A'.
    #[arg(long)]
    pub baseline_bin: Option<std::path::PathBuf>,
    /// Also write the JSON record to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// PostgreSQL on cores of its own (1..), everything else on core 0, as
    /// with a database host of its own; skips the peers. Needs PostgreSQL on
    /// this machine and the right to set its processes' affinity.
    #[arg(long)]
    pub split_cores: bool,
}

impl Args {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.split_cores {
        cores::pin_this_process()?;
        args.no_peers = true;
    }
    init_server_log(&args.server_log)?;
    // The load generator runs on one thread; the servers run on their own.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

fn init_server_log(filter: &str) -> anyhow::Result<()> {
    let sink = std::sync::Mutex::new(std::fs::OpenOptions::new().write(true).open("/dev/null")?);
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(sink)
        .with_ansi(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Restored when dropped, at the end of the run or on an error.
    let _pinned =
        if args.split_cores { Some(cores::PostgresPinned::pin(&args.database_url).await?) } else { None };
    let mut env = arms::Env::prepare(&args).await?;
    let outcome = async {
        let mut arms = BTreeMap::new();
        for round in 1..=args.rounds {
            eprintln!("round {round}/{}", args.rounds);
            env.round(&mut arms).await?;
        }
        let health = env.table_health().await?;
        let extras = extras::run(&args, &mut env, &arms).await?;
        report::print_table(&arms);
        let ratios = report::ratios(&arms, &extras);
        report::print_ratios(&ratios);
        extras.print();
        println!("\nlocks table over the run: {}", serde_json::to_string(&health)?);
        let record = json!({
            "machine": report::machine(),
            "args": format!("{args:?}"),
            "clients": env.clients,
            "arms": arms,
            "ratios": ratios,
            "extras": extras,
            "locks_table": health,
        });
        println!("\nJSON {}", serde_json::to_string(&record)?);
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(&record)?)?;
        }
        anyhow::Ok(())
    }
    .await;
    env.finish().await?;
    outcome
}
