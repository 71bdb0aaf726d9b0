//! The orchestrator: sets the cluster up, starts the clients and the nemesis,
//! heals, probes every lock, and checks the history.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::checker::{self, Recovery, Report};
use crate::client::NAMESPACE;
use crate::clock::{self, nanos};
use crate::cluster::{Postgres, Replica};
use crate::history::{Kind, Op, Outcome};
use crate::nemesis::Nemesis;
use crate::proxy::Proxy;
use crate::resource::Resources;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Length of the workload.
    #[arg(long, default_value_t = 150)]
    duration_seconds: u64,
    /// The long run: 30 minutes instead (overrides --duration-seconds).
    #[arg(long)]
    long: bool,
    #[arg(long, default_value_t = 32)]
    clients: u32,
    #[arg(long, default_value_t = 16)]
    locks: u32,
    #[arg(long, default_value_t = 2)]
    ttl_seconds: u64,
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Fail unless the run recorded at least this many lock operations.
    #[arg(long, default_value_t = 10_000)]
    min_operations: usize,
    /// Where the private PostgreSQL cluster and the run's files live.
    #[arg(long, default_value = "target/chaos")]
    dir: PathBuf,
    #[arg(long, default_value_t = 54400)]
    postgres_port: u16,
    /// The `leasehold` binary [default: beside this one].
    #[arg(long)]
    leasehold: Option<PathBuf>,
}

pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let duration = Duration::from_secs(if args.long { 1800 } else { args.duration_seconds });
    let ttl = Duration::from_secs(args.ttl_seconds);
    let binary = match &args.leasehold {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("leasehold"),
    };
    let out = std::path::absolute(args.dir.join("last-run"))?;
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    println!("chaos: PostgreSQL on port {} in {}", args.postgres_port, args.dir.display());
    let postgres = Postgres::start(&args.dir, args.postgres_port).await?;
    let key = postgres.fresh_database(NAMESPACE).await?;
    let proxy = Proxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], postgres.port))).await?;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/{NAMESPACE}", proxy.port);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let mut replicas = Vec::new();
    for n in 0..args.replicas {
        let mut replica = Replica::new(&binary, &via_proxy, out.join(format!("replica-{n}.log")))?;
        replica.start(&http).await?;
        replicas.push(replica);
    }
    let urls: Vec<String> = replicas.iter().map(Replica::url).collect();
    let resources = Resources::default();
    let resource_port = resources.serve().await?;

    let started = clock::now();
    let until = started + nanos(duration);
    println!("chaos: {} clients on {} locks, TTL {ttl:?}, for {duration:?}", args.clients, args.locks);
    let mut children = Vec::new();
    for id in 0..args.clients {
        let client = Command::new(std::env::current_exe()?)
            .args(["client", "--id", &id.to_string(), "--replicas", &urls.join(",")])
            .args(["--resource-port", &resource_port.to_string(), "--locks", &args.locks.to_string()])
            .args(["--ttl-seconds", &args.ttl_seconds.to_string(), "--until", &until.to_string()])
            .arg("--out")
            .arg(out.join(format!("client-{id}.jsonl")))
            .env("CHAOS_KEY", &key)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        children.push(client);
    }
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
    wait_for_clients(children).await?;

    let (probe_ops, at_the_end) = probe(&http, &urls, &key, args.locks, ttl).await;
    let mut ops = read_histories(&out, args.clients)?;
    let mut recoveries = checker::recoveries(&ops, &faults, args.locks, checker::recovery_limit(ttl), until);
    recoveries.extend(at_the_end);
    ops.extend(probe_ops);
    let elapsed = Duration::from_nanos(clock::now() - started);
    let report = checker::check(&ops, ttl, &resources.finals(), &recoveries);
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    for replica in &mut replicas {
        replica.kill().await;
    }
    postgres.stop()?;
    Ok(verdict(&report, faults.len(), args.min_operations, elapsed, &out))
}

async fn wait_for_clients(children: Vec<Child>) -> anyhow::Result<()> {
    for mut child in children {
        if let Some(pid) = child.id() {
            // SAFETY: plain signal delivery to our own child; none stays stopped.
            unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        }
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .context("a client did not finish")??;
        anyhow::ensure!(status.success(), "a client failed: {status}");
    }
    Ok(())
}

fn read_histories(out: &Path, clients: u32) -> anyhow::Result<Vec<Op>> {
    let mut ops = Vec::new();
    for id in 0..clients {
        let path = out.join(format!("client-{id}.jsonl"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            ops.push(serde_json::from_str(line)?);
        }
    }
    Ok(ops)
}

/// With every fault healed and the workload stopped, how long until each
/// lock can be acquired (leases left behind must lapse within the TTL).
/// The probes' grants join the history, so they are checked too.
async fn probe(
    http: &reqwest::Client,
    urls: &[String],
    key: &str,
    locks: u32,
    ttl: Duration,
) -> (Vec<Op>, Vec<Recovery>) {
    let healed = clock::now();
    let probes = (0..locks).map(|lock| async move {
        let mut ops = Vec::new();
        let deadline = healed + nanos(ttl + Duration::from_secs(10));
        let mut attempt = 0;
        while clock::now() < deadline {
            attempt += 1;
            let url = format!("{}/v1/namespaces/{NAMESPACE}/locks/lock-{lock}", urls[attempt % urls.len()]);
            let mut op = Op::new(1000 + lock, Kind::Acquire, lock, attempt as u64, clock::now());
            let sent =
                http.post(&url).bearer_auth(key).json(&json!({ "ttl_seconds": ttl.as_secs() })).send().await;
            op.complete = clock::now();
            op.attempts = 1;
            let response = match sent {
                Ok(r) => r,
                Err(_) => {
                    ops.push(op);
                    continue;
                }
            };
            op.status = Some(response.status().as_u16());
            if response.status() == reqwest::StatusCode::CREATED {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                op.outcome = Outcome::Ok;
                op.fencing_token = body["fencing_token"].as_i64();
                let took = Duration::from_nanos(op.complete - healed);
                ops.push(op);
                return (ops, Recovery { after: "the run".into(), lock, took: Some(took) });
            }
            op.outcome = if response.status().is_server_error() { Outcome::Unknown } else { Outcome::Fail };
            ops.push(op);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (ops, Recovery { after: "the run".into(), lock, took: None })
    });
    let results = futures_util::future::join_all(probes).await;
    let mut ops = Vec::new();
    let mut recovery = Vec::new();
    for (mut o, r) in results {
        ops.append(&mut o);
        recovery.push(r);
    }
    (ops, recovery)
}

fn verdict(report: &Report, faults: usize, min_operations: usize, elapsed: Duration, out: &Path) -> bool {
    println!("{}", serde_json::to_string_pretty(report).expect("a report serializes"));
    println!(
        "chaos: {} lock operations ({} in all) in {:.0} s, {faults} faults, {} violations, {} control lost updates, \
         {} stale fenced writes refused; files in {}",
        report.lock_operations,
        report.operations,
        elapsed.as_secs_f64(),
        report.violations(),
        report.control_lost_updates,
        report.fenced_rejected_stale_writes,
        out.display()
    );
    let mut passed = report.violations() == 0;
    if report.control_lost_updates <= 0 {
        println!("chaos: FAIL: the unfenced control counter lost no update, so the faults did not bite");
        passed = false;
    }
    if report.lock_operations < min_operations {
        println!("chaos: FAIL: only {} lock operations (want {min_operations})", report.lock_operations);
        passed = false;
    }
    println!("chaos: {}", if passed { "PASS" } else { "FAIL" });
    passed
}
