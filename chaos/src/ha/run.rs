//! The `--ha` orchestrator: the Patroni cluster up, a chaos proxy in front of
//! each node, the replicas on the multi-host URL of the three proxies, the
//! workload and the database nemesis, then every check, the new ones
//! included, and the cluster down whatever happened.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::cluster::{HaCluster, NODES};
use super::nemesis::HaNemesis;
use super::sentinel::Sentinels;
use super::trail::{fault_starts, Anchor};
use super::{audit, availability, trail, HaReport};
use crate::checker::{self, Report};
use crate::client::NAMESPACE;
use crate::clock::{self, nanos};
use crate::cluster::{provision, Replica};
use crate::proxy::Proxy;
use crate::resource::Resources;
use crate::run::RunArgs;
use crate::workload::{self, Workload};

/// The database `cluster.sh up` creates.
const DATABASE: &str = "leasehold";

#[derive(Serialize)]
struct FullReport<'a> {
    #[serde(flatten)]
    report: &'a Report,
    ha: &'a HaReport,
}

pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let out = args.fresh_output()?;
    let dir = args.cluster_dir.clone().unwrap_or_else(|| args.dir.join("ha"));
    println!("chaos: Patroni cluster in {} (base port {})", dir.display(), args.cluster_base_port);
    let cluster =
        HaCluster::up(&args.cluster_script, &dir, args.cluster_base_port, out.join("cluster.log")).await?;
    let result = run_on(&args, &cluster, &out).await;
    cluster.down().await;
    keep_logs(&cluster.dir, &out);
    result
}

async fn run_on(args: &RunArgs, cluster: &HaCluster, out: &Path) -> anyhow::Result<bool> {
    let (duration, ttl) = (args.duration(), args.ttl());
    let key = provision(&cluster.primary_url(DATABASE).await?, NAMESPACE).await?;
    let mut proxies = Vec::new();
    for node in 1..=NODES {
        proxies.push(Proxy::start(SocketAddr::from(([127, 0, 0, 1], cluster.node_port(node)))).await?);
    }
    let hosts: Vec<String> = proxies.iter().map(|p| format!("127.0.0.1:{}", p.port)).collect();
    let url = format!("postgres://postgres@{}/{DATABASE}?target_session_attrs=read-write", hosts.join(","));
    println!("chaos: replicas on {url}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let mut replicas = args.start_replicas(&url, out, &http).await?;
    let urls: Vec<String> = replicas.iter().map(Replica::url).collect();
    let resources = Resources::default();
    let resource_port = resources.serve().await?;

    let anchor = Anchor::now();
    let started = clock::now();
    let until = started + nanos(duration);
    println!("chaos: {} clients on {} locks, TTL {ttl:?}, for {duration:?}", args.clients, args.locks);
    // The trail check knows exclusive lock leases only: no semaphores, lock
    // sets or readers.
    let workload = Workload {
        clients: args.clients,
        semaphore_clients: 0,
        set_clients: 0,
        reader_clients: 0,
        urls: &urls,
        key: &key,
        resource_port,
        locks: args.locks,
        ttl_seconds: args.ttl_seconds,
        until,
        out,
    };
    let children = workload::spawn_clients(&workload)?;
    let pids: Vec<u32> = children.iter().map(|c| c.id().unwrap_or(0)).collect();
    let mut sentinels = Sentinels::new(http.clone(), urls.clone(), key.clone());
    let mut nemesis = HaNemesis {
        cluster,
        proxies: &proxies,
        resources: &resources,
        clients: &pids,
        sentinels: &mut sentinels,
        ttl,
    };
    let faults = nemesis.run(until.saturating_sub(nanos(Duration::from_secs(5)))).await?;
    std::fs::write(out.join("faults.json"), serde_json::to_vec_pretty(&faults)?)?;
    println!("chaos: {} database faults injected and healed; waiting for the clients", faults.len());
    workload::wait_for_clients(children).await?;

    let (probe_ops, at_the_end) = workload::probe(&http, &urls, &key, args.locks, ttl).await;
    let mut ops = workload::read_histories(out, args.clients)?;
    let mut recoveries = checker::recoveries(&ops, &faults, args.locks, checker::recovery_limit(ttl), until);
    recoveries.extend(at_the_end);
    ops.extend(probe_ops);
    ops.append(&mut sentinels.ops);
    let elapsed = Duration::from_nanos(clock::now() - started);
    let report = checker::check(&ops, ttl, &resources.finals(), &recoveries);
    let trail = audit::read(&cluster.primary_url(DATABASE).await?).await?;
    let ha = HaReport {
        availability: availability::measure(&ops, &faults),
        trail: trail::check(&ops, &trail, &fault_starts(&faults, anchor)),
        sentinels_checked: sentinels.checked,
        sentinels_lost: sentinels.lost.len(),
        sentinel_examples: sentinels.lost.clone(),
    };
    let full = FullReport { report: &report, ha: &ha };
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&full)?)?;
    println!("{}", serde_json::to_string_pretty(&full)?);
    for replica in &mut replicas {
        replica.kill().await;
    }
    print_figures(&ha);
    let min_operations = args.min_operations.unwrap_or(4_000);
    Ok(workload::verdict(&report, ha.violations(), faults.len(), min_operations, elapsed, &workload))
}

fn print_figures(ha: &HaReport) {
    let a = &ha.availability;
    let kinds: Vec<String> = a.faults_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "chaos: faults: {}; first acquire after a fault: p50 {:.0} ms, max {:.0} ms (target {:.0} ms, {} over); \
         outage seen by clients: p50 {:.0} ms, max {:.0} ms",
        kinds.join(", "),
        a.p50_ms,
        a.max_ms,
        a.target_ms,
        a.over_target,
        a.outage_p50_ms,
        a.outage_max_ms
    );
    println!(
        "chaos: audit trail: {} events, {} grants matched, {} grant pairs across faults; sentinels {} checked, {} lost; \
         {} HA violations",
        ha.trail.events,
        ha.trail.grants_matched,
        ha.trail.grant_pairs_across_faults,
        ha.sentinels_checked,
        ha.sentinels_lost,
        ha.violations()
    );
}

/// Copies each node's Patroni and PostgreSQL logs next to the run's files.
fn keep_logs(cluster_dir: &Path, out: &Path) {
    for node in 1..=NODES {
        for log in ["patroni.log", "postgresql.log"] {
            let from = cluster_dir.join(format!("pg{node}")).join(log);
            let _ = std::fs::copy(&from, out.join(format!("pg{node}-{log}")));
        }
    }
    let _ = std::fs::copy(cluster_dir.join("etcd.log"), out.join("etcd.log"));
}
