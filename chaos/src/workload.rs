//! What every run shares: the client processes (started, awaited, their
//! histories read), the final probe of every lock, and the verdict.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::checker::{Recovery, Report};
use crate::client::{Role, NAMESPACE};
use crate::clock::{self, nanos};
use crate::history::{Kind, Op, Outcome};

/// What the client processes are told.
pub struct Workload<'a> {
    /// Lock clients (ids 0..), then semaphore, lock-set and reader clients.
    pub clients: u32,
    pub semaphore_clients: u32,
    pub set_clients: u32,
    pub reader_clients: u32,
    pub urls: &'a [String],
    pub key: &'a str,
    pub resource_port: u16,
    pub locks: u32,
    pub ttl_seconds: u64,
    /// Monotonic ns at which they stop.
    pub until: u64,
    pub out: &'a Path,
}

impl Workload<'_> {
    pub fn all_clients(&self) -> u32 {
        self.clients + self.semaphore_clients + self.set_clients + self.reader_clients
    }

    fn role(&self, id: u32) -> Role {
        match id {
            id if id < self.clients => Role::Locks,
            id if id < self.clients + self.semaphore_clients => Role::Semaphores,
            id if id < self.clients + self.semaphore_clients + self.set_clients => Role::LockSets,
            _ => Role::Readers,
        }
    }
}

/// Starts one client process per id; each writes `client-ID.jsonl` in `out`.
pub fn spawn_clients(w: &Workload<'_>) -> anyhow::Result<Vec<Child>> {
    let mut children = Vec::new();
    for id in 0..w.all_clients() {
        let role = w.role(id).to_possible_value().expect("no role is skipped");
        let client = Command::new(std::env::current_exe()?)
            .args(["client", "--id", &id.to_string(), "--role", role.get_name()])
            .args(["--replicas", &w.urls.join(",")])
            .args(["--resource-port", &w.resource_port.to_string(), "--locks", &w.locks.to_string()])
            .args(["--ttl-seconds", &w.ttl_seconds.to_string(), "--until", &w.until.to_string()])
            .arg("--out")
            .arg(history_file(w.out, id))
            .env("CHAOS_KEY", w.key)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        children.push(client);
    }
    Ok(children)
}

fn history_file(out: &Path, id: u32) -> PathBuf {
    out.join(format!("client-{id}.jsonl"))
}

pub async fn wait_for_clients(children: Vec<Child>) -> anyhow::Result<()> {
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

pub fn read_histories(out: &Path, clients: u32) -> anyhow::Result<Vec<Op>> {
    let mut ops = Vec::new();
    for id in 0..clients {
        let path = history_file(out, id);
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
pub async fn probe(
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

/// Prints the report and the verdict; `extra_violations` are those of checks
/// outside `report` (an `--ha` run's).
pub fn verdict(
    report: &Report,
    extra_violations: usize,
    faults: usize,
    min_operations: usize,
    elapsed: Duration,
    w: &Workload<'_>,
) -> bool {
    println!(
        "chaos: {} lock operations ({} in all) in {:.0} s, {faults} faults, {} violations, {} control lost updates, \
         {} stale fenced writes refused, {} permits, {} lock sets ({} in the audit trail), {} shared leases; \
         files in {}",
        report.lock_operations,
        report.operations,
        elapsed.as_secs_f64(),
        report.violations() + extra_violations,
        report.control_lost_updates,
        report.fenced_rejected_stale_writes,
        report.permits_granted,
        report.lock_sets_granted,
        report.lock_set_grants_in_trail,
        report.shared_leases_granted,
        w.out.display()
    );
    let mut passed = report.violations() + extra_violations == 0;
    if report.control_lost_updates <= 0 {
        println!("chaos: FAIL: the unfenced control counter lost no update, so the faults did not bite");
        passed = false;
    }
    if report.lock_operations < min_operations {
        println!("chaos: FAIL: only {} lock operations (want {min_operations})", report.lock_operations);
        passed = false;
    }
    // A kind that was never granted proved nothing.
    if w.semaphore_clients > 0 && report.permits_granted == 0 {
        println!("chaos: FAIL: no semaphore permit was granted");
        passed = false;
    }
    if w.set_clients > 0 && report.lock_sets_granted == 0 {
        println!("chaos: FAIL: no lock set was granted");
        passed = false;
    }
    if w.reader_clients > 0 && report.shared_leases_granted == 0 {
        println!("chaos: FAIL: no shared lease was granted");
        passed = false;
    }
    println!("chaos: {}", if passed { "PASS" } else { "FAIL" });
    passed
}
