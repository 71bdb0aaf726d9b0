//! `leasehold-chaos`: a Jepsen-style test of Leasehold. Three replicas on one
//! private PostgreSQL, 32 client processes on 16 locks with a 2 s TTL, a
//! nemesis (replica SIGKILL, client SIGSTOP, PostgreSQL immediate restart,
//! backend termination, a proxy that drops or delays traffic), and a checker
//! over the recorded history. `run --ha` runs the workload against a Patroni
//! cluster with database faults instead (see `ha`).

mod checker;
mod client;
mod clock;
mod cluster;
mod ha;
mod history;
mod nemesis;
mod proxy;
mod resource;
mod run;
mod set_trail;
mod workload;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "leasehold-chaos", about = "Fault injection and a history checker for Leasehold")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole test and check its history; exits non-zero on a violation.
    Run(run::RunArgs),
    /// One client process (started by `run`).
    #[command(hide = true)]
    Client {
        #[arg(long)]
        id: u32,
        #[arg(long, value_enum)]
        role: client::Role,
        #[arg(long, value_delimiter = ',')]
        replicas: Vec<String>,
        #[arg(long)]
        resource_port: u16,
        #[arg(long)]
        locks: u32,
        #[arg(long)]
        ttl_seconds: u64,
        /// Monotonic-clock nanoseconds at which to stop.
        #[arg(long)]
        until: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let passed = if args.ha {
                runtime.block_on(ha::run::run(args))?
            } else {
                runtime.block_on(run::run(args))?
            };
            std::process::exit(if passed { 0 } else { 1 });
        }
        Command::Client { id, role, replicas, resource_port, locks, ttl_seconds, until, out } => {
            // The key comes from the environment, not the command line, so
            // that it does not show in `ps`.
            let key = std::env::var("CHAOS_KEY")?;
            let config = client::ClientConfig {
                id,
                role,
                replicas,
                key,
                resource_port,
                locks,
                ttl: Duration::from_secs(ttl_seconds),
                until,
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let history = runtime.block_on(client::run(config))?;
            let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
            for op in history {
                serde_json::to_writer(&mut file, &op)?;
                file.write_all(b"\n")?;
            }
            file.flush()?;
            Ok(())
        }
    }
}
