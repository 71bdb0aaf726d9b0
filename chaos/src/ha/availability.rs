//! Availability across database faults. For each fault:
//!
//! - **from the fault**: the time from its start to the first successful
//!   acquire sent after the fault's last failed request (a 5xx or no answer,
//!   sent between the fault's start and its healing). A fault takes effect a
//!   little after it starts (a stopping Patroni shuts PostgreSQL down first),
//!   so "the first acquire after the start" alone would often be one the old
//!   primary still granted;
//! - **outage**: from the first failed request sent after the start to that
//!   same acquire: what clients saw, without the time the tooling took to
//!   act (patronictl on a loaded machine can take seconds to switch over).
//!   None when no request failed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::clock::millis;
use crate::history::{Fault, Kind, Op, Outcome};

/// What a run reports against (not a failure).
pub const TARGET: Duration = Duration::from_secs(15);
/// A fault after which no acquire succeeds within this long fails the run.
pub const LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Serialize)]
pub struct Availability {
    pub faults_by_kind: BTreeMap<String, usize>,
    pub per_fault: Vec<PerFault>,
    /// From the fault to the first acquire, over the faults.
    pub p50_ms: f64,
    pub max_ms: f64,
    pub target_ms: f64,
    pub over_target: usize,
    /// The outages, over the faults that had one.
    pub outage_p50_ms: f64,
    pub outage_max_ms: f64,
    /// Faults after which no acquire succeeded within LIMIT: violations.
    pub unrecovered_faults: usize,
}

#[derive(Debug, Serialize)]
pub struct PerFault {
    pub fault: String,
    pub from_fault_ms: Option<f64>,
    pub outage_ms: Option<f64>,
}

pub fn measure(ops: &[Op], faults: &[Fault]) -> Availability {
    let mut acquires: Vec<(u64, u64)> = ops
        .iter()
        .filter(|op| op.kind == Kind::Acquire && op.outcome == Outcome::Ok)
        .map(|op| (op.invoke, op.complete))
        .collect();
    acquires.sort_unstable();
    let mut failures: Vec<u64> = ops
        .iter()
        .filter(|op| op.is_lock_operation() && op.outcome == Outcome::Unknown)
        .map(|op| op.invoke)
        .collect();
    failures.sort_unstable();
    let mut report = Availability { target_ms: TARGET.as_secs_f64() * 1e3, ..Availability::default() };
    let (mut took_ms, mut outages_ms) = (Vec::new(), Vec::new());
    for fault in faults {
        *report.faults_by_kind.entry(fault.kind.clone()).or_default() += 1;
        let window = &failures[failures.partition_point(|&i| i < fault.start)..];
        let window = &window[..window.partition_point(|&i| i <= fault.healed)];
        let from = window.last().copied().unwrap_or(fault.start);
        let after = &acquires[acquires.partition_point(|&(invoke, _)| invoke < from)..];
        let first = after.iter().map(|&(_, complete)| complete).min();
        let took = first.map(|c| Duration::from_nanos(c.saturating_sub(fault.start))).filter(|&t| t <= LIMIT);
        let from_fault_ms = took.map(|t| t.as_secs_f64() * 1e3);
        let outage_ms = match (window.first(), first.filter(|_| took.is_some())) {
            (Some(&failed), Some(done)) => Some(millis(done.saturating_sub(failed))),
            _ => None,
        };
        match from_fault_ms {
            Some(ms) => took_ms.push(ms),
            None => report.unrecovered_faults += 1,
        }
        outages_ms.extend(outage_ms);
        report.over_target += usize::from(took.map_or(true, |t| t > TARGET));
        let fault = format!("{} ({})", fault.kind, fault.target);
        report.per_fault.push(PerFault { fault, from_fault_ms, outage_ms });
    }
    (report.p50_ms, report.max_ms) = p50_and_max(took_ms);
    (report.outage_p50_ms, report.outage_max_ms) = p50_and_max(outages_ms);
    report
}

fn p50_and_max(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    match values.last() {
        Some(&max) => (values[(values.len() - 1) / 2], max),
        None => (0.0, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn acquire(invoke_s: u64, complete_s: u64, outcome: Outcome) -> Op {
        let mut op = Op::new(1, Kind::Acquire, 0, 1, invoke_s * S);
        (op.complete, op.outcome) = (complete_s * S, outcome);
        op
    }

    fn fault(kind: &str, start_s: u64) -> Fault {
        Fault { kind: kind.into(), target: "pg1".into(), start: start_s * S, healed: (start_s + 5) * S }
    }

    #[test]
    fn time_to_the_first_acquire_sent_after_each_fault() {
        let ops = vec![
            acquire(9, 30, Outcome::Ok),    // sent before the fault: does not count
            acquire(11, 12, Outcome::Fail), // refused: does not count
            acquire(14, 16, Outcome::Ok),   // 6 s after the fault at 10
            acquire(40, 41, Outcome::Ok),   // 1 s after the fault at 40
            acquire(50, 70, Outcome::Unknown),
        ];
        let faults = [fault("KillPrimary", 10), fault("Switchover", 40), fault("KillPrimary", 45)];

        let found = measure(&ops, &faults);

        let per_fault: Vec<Option<f64>> = found.per_fault.iter().map(|f| f.from_fault_ms).collect();
        assert_eq!(per_fault, [Some(6000.0), Some(1000.0), None]);
        assert!(found.per_fault.iter().all(|f| f.outage_ms.is_none()), "no request failed");
        assert_eq!((found.p50_ms, found.max_ms), (1000.0, 6000.0));
        assert_eq!((found.unrecovered_faults, found.over_target), (1, 1));
        assert_eq!(found.faults_by_kind["KillPrimary"], 2);
    }

    #[test]
    fn an_acquire_the_old_primary_granted_before_the_outage_does_not_count() {
        let mut failed = acquire(12, 13, Outcome::Unknown);
        failed.status = Some(503);
        let ops = vec![acquire(10, 10, Outcome::Ok), failed, acquire(13, 17, Outcome::Ok)];
        let found = measure(&ops, &[fault("StopPrimaryPatroni", 10)]);
        assert_eq!(found.per_fault[0].from_fault_ms, Some(7000.0));
        assert_eq!(found.per_fault[0].outage_ms, Some(5000.0), "from the failed request sent at 12 s");
        assert_eq!((found.outage_p50_ms, found.outage_max_ms), (5000.0, 5000.0));
    }

    #[test]
    fn an_acquire_later_than_the_limit_is_no_recovery() {
        let ops = vec![acquire(75, 76, Outcome::Ok)];
        let found = measure(&ops, &[fault("CutPrimary", 10)]);
        assert_eq!(found.unrecovered_faults, 1);
    }
}
