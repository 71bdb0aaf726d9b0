//! Medians with min–max per arm, the ratios, and the JSON record.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::baseline;
use crate::extras::Extras;
use crate::load::Sample;

#[derive(Default, Serialize)]
pub struct Arm {
    pub unit: &'static str,
    pub rounds: Vec<Sample>,
    /// WAL bytes per operation, one figure per round (arms A and B).
    pub wal_bytes_per_op: Vec<f64>,
    /// Machine-wide busy CPU microseconds per operation, per round.
    pub cpu_us_per_op: Vec<f64>,
    /// This process's CPU microseconds per operation (the in-process servers
    /// and the load generator), per round.
    pub own_cpu_us_per_op: Vec<f64>,
    pub note: Option<String>,
}

pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

impl Arm {
    pub fn rates(&self) -> Vec<f64> {
        self.rounds.iter().map(Sample::rate).collect()
    }

    pub fn median_rate(&self) -> f64 {
        median(&self.rates())
    }

    fn min_max(&self) -> (f64, f64) {
        let rates = self.rates();
        (rates.iter().copied().fold(f64::INFINITY, f64::min), rates.iter().copied().fold(0.0, f64::max))
    }
}

pub fn print_table(arms: &BTreeMap<String, Arm>) {
    println!(
        "\n{:<42} {:>8} {:>15} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9}",
        "arm", "median/s", "min–max", "p50 ms", "p99 ms", "avg ms", "WAL B/op", "CPU µs/op", "own µs/op"
    );
    for (name, arm) in arms {
        if arm.rounds.is_empty() {
            println!("{name:<42} {}", arm.note.as_deref().unwrap_or("not run"));
            continue;
        }
        let (min, max) = arm.min_max();
        let pick = |f: fn(&Sample) -> f64| median(&arm.rounds.iter().map(f).collect::<Vec<_>>());
        println!(
            "{:<42} {:>8.0} {:>15} {:>7.2} {:>7.2} {:>7.2} {:>8.0} {:>9.0} {:>9.0}   {}",
            name,
            arm.median_rate(),
            format!("{min:.0}–{max:.0}"),
            pick(|s| s.p50_ms),
            pick(|s| s.p99_ms),
            pick(|s| s.avg_ms),
            // WAL is cluster-wide: anyone else's writes only add to it, so
            // the least of the rounds is the closest to this arm's own.
            arm.wal_bytes_per_op.iter().copied().fold(f64::NAN, f64::min),
            median(&arm.cpu_us_per_op),
            median(&arm.own_cpu_us_per_op),
            arm.unit
        );
    }
}

#[derive(Serialize)]
pub struct Ratio {
    pub name: String,
    pub value: f64,
    pub target: Option<String>,
}

pub fn ratio(
    arms: &BTreeMap<String, Arm>,
    name: &str,
    top: &str,
    bottom: &str,
    scale: f64,
    target: Option<&str>,
) -> Option<Ratio> {
    let (a, b) = (arms.get(top)?.median_rate(), arms.get(bottom)?.median_rate());
    (a.is_finite() && b.is_finite() && b > 0.0).then(|| Ratio {
        name: name.to_owned(),
        value: a * scale / b,
        target: target.map(str::to_owned),
    })
}

pub fn print_ratios(ratios: &[Ratio]) {
    println!("\n{:<58} {:>8}  target", "ratio", "value");
    for r in ratios {
        let verdict = match r.target.as_deref() {
            Some(t) => match t.strip_prefix(">= ").and_then(|v| v.parse::<f64>().ok()) {
                Some(min) if r.value >= min => format!("{t}: reached"),
                Some(_) => format!("{t}: NOT reached"),
                None => t.to_owned(),
            },
            None => String::new(),
        };
        println!("{:<58} {:>8.3}  {verdict}", r.name, r.value);
    }
}

/// Every ratio the issue asks for, from the arms' medians and the extras.
pub fn ratios(arms: &BTreeMap<String, Arm>, extras: &Extras) -> Vec<Ratio> {
    let mut out = Vec::new();
    let mut push = |r: Option<Ratio>| out.extend(r);
    push(ratio(arms, "A/B uncontended cycles", "A uncontended", "B uncontended", 1.0, Some(">= 0.8")));
    let store = "A uncontended, store only (no HTTP)";
    push(ratio(arms, "store-only/B uncontended cycles (sqlx, no HTTP)", store, "B uncontended", 1.0, None));
    push(ratio(arms, "A/store-only uncontended cycles (the HTTP hop)", "A uncontended", store, 1.0, None));
    push(ratio(arms, "A/B contended attempts", "A contended (4 names)", "B contended (4 names)", 1.0, None));
    push(ratio(arms, "A/B renewals", "A renew (held locks)", "B renew (held locks)", 1.0, None));
    let permits = "A uncontended semaphore permits";
    push(ratio(
        arms,
        "semaphore permit cycles / lock cycles (uncontended)",
        permits,
        "A uncontended",
        1.0,
        None,
    ));
    // The new build over the baseline build (`--baseline-bin`).
    for (name, top, bottom) in [
        ("A/A' uncontended cycles (this build over baseline)", "A uncontended", baseline::UNCONTENDED),
        ("A/A' contended attempts (this build over baseline)", "A contended (4 names)", baseline::CONTENDED),
        ("A/A' renewals (this build over baseline)", "A renew (held locks)", baseline::RENEW),
    ] {
        push(ratio(arms, name, top, bottom, 1.0, None));
    }
    push(ratio(
        arms,
        "A/C (A's requests/s, 2 per cycle, over /healthz)",
        "A uncontended",
        "C GET /healthz (no database)",
        2.0,
        None,
    ));
    push(ratio(arms, "B/D (pgbench cycles over SELECT 1)", "B uncontended", "D pgbench SELECT 1", 1.0, None));
    for peer in ["redis always", "redis everysec"] {
        push(ratio(
            arms,
            &format!("A/E uncontended, {peer}"),
            "A uncontended",
            &format!("E {peer} uncontended"),
            1.0,
            None,
        ));
        push(ratio(
            arms,
            &format!("A/E contended, {peer}"),
            "A contended (4 names)",
            &format!("E {peer} contended"),
            1.0,
            None,
        ));
    }
    push(ratio(arms, "A/E uncontended, etcd", "A uncontended", "E etcd uncontended", 1.0, None));
    for name in arms.keys().filter(|k| k.starts_with("A uncontended pool=")) {
        push(ratio(arms, &format!("{name} over pool={}", "default"), name, "A uncontended", 1.0, None));
    }
    out.extend(extras.ratios());
    out
}

pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo.lines().next().unwrap_or_default().to_owned();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    let cores = crate::cores::machine_cores();
    serde_json::json!({"cpu": model, "cores": cores, "memory": memory, "kernel": kernel})
}
