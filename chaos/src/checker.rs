//! Checks a run's history:
//!
//! 1. mutual exclusion: on each lock, no exclusive lease's holding window
//!    (see `leases`) overlaps another lease's, whether plain, shared or a
//!    lock set's member;
//! 2. fencing tokens: unique, and strictly increasing in real-time order (a
//!    grant that completed before another was invoked has the lower token),
//!    across every fault, for locks, sets' members and semaphores' permits
//!    alike (one sequence serves them all);
//! 3. the fenced register loses no acknowledged write: on each lock, the
//!    acknowledged writes wrote 1, 2, ..., n once each and it ends at n;
//! 4. the control counter, incremented under the same locks without fencing,
//!    loses updates (counted, and required to be > 0 when clients were paused);
//! 5. after every fault heals, every lock is acquired again within TTL + 2 s
//!    (by the workload, or for the last fault by the final probe);
//! 6. no semaphore has more than its limit of permits' windows open at once
//!    (`semaphores`);
//! 7. lock sets are granted all or nothing (`lock_sets`).

mod leases;
pub mod lock_sets;
mod semaphores;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use crate::client::SEMAPHORE_LIMIT;
use crate::clock::{millis, nanos};
use crate::history::{Fault, Kind, Op, Outcome};
use leases::{Held, Window};

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub operations: usize,
    pub lock_operations: usize,
    pub outcomes: BTreeMap<String, usize>,
    /// Lock leases: exclusive, shared and sets' members.
    pub leases_granted: usize,
    pub shared_leases_granted: usize,
    pub mutual_exclusion_violations: usize,
    pub fencing_violations: usize,
    pub fenced_lost_writes: i64,
    pub fenced_acknowledged_writes: usize,
    pub fenced_rejected_stale_writes: usize,
    pub control_lost_updates: i64,
    pub control_writes: usize,
    pub permits_granted: usize,
    pub permit_limit_violations: usize,
    pub lock_sets_granted: usize,
    /// Set grants found in the audit trail (and checked against the history).
    pub lock_set_grants_in_trail: usize,
    pub lock_set_violations: usize,
    /// (fault, lock) pairs whose recovery was checked.
    pub recoveries_checked: usize,
    pub slowest_recovery_ms: f64,
    pub unrecovered_locks: usize,
    /// The first few violations, described.
    pub examples: Vec<String>,
}

impl Report {
    pub fn violations(&self) -> usize {
        self.mutual_exclusion_violations
            + self.fencing_violations
            + self.fenced_lost_writes.unsigned_abs() as usize
            + self.unrecovered_locks
            + self.permit_limit_violations
            + self.lock_set_violations
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < 20 {
            self.examples.push(text);
        }
    }
}

/// How long after a fault healed a lock was next acquired, if it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// What healed: a fault, or the end of the run.
    pub after: String,
    pub lock: u32,
    pub took: Option<Duration>,
}

/// For each fault healed at least `window` before the workload's end: when
/// each of the `locks` was next granted to a client. (Faults are spaced more
/// than `window` apart, so each window is fault-free.)
pub fn recoveries(
    ops: &[Op],
    faults: &[Fault],
    locks: u32,
    window: Duration,
    workload_end: u64,
) -> Vec<Recovery> {
    let mut grants: HashMap<u32, Vec<u64>> = HashMap::new();
    // Any grant shows the lock is being handed out again: an exclusive one,
    // a lock set's, or a reader's. Readers may keep an exclusive acquire
    // out for a while (their leases overlap, and fail-fast writers do not
    // queue), so demanding an exclusive grant here would judge the
    // workload's read ratio, not recovery; a reader's lease left behind is
    // caught by the probe at the end, which takes every lock exclusively.
    for op in ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        let locks = match op.kind {
            Kind::Acquire => std::slice::from_ref(&op.lock),
            Kind::SetAcquire => op.members.as_slice(),
            _ => continue,
        };
        for &lock in locks {
            grants.entry(lock).or_default().push(op.complete);
        }
    }
    grants.values_mut().for_each(|times| times.sort_unstable());
    let checked = faults.iter().filter(|f| f.healed + nanos(window) <= workload_end);
    checked
        .flat_map(|fault| {
            let grants = &grants;
            (0..locks).map(move |lock| {
                let times = grants.get(&lock).map_or(&[][..], Vec::as_slice);
                let next = times.get(times.partition_point(|&t| t < fault.healed));
                let took = next.map(|&t| Duration::from_nanos(t - fault.healed)).filter(|&t| t <= window);
                Recovery { after: format!("{} ({})", fault.kind, fault.target), lock, took }
            })
        })
        .collect()
}

/// `finals`: lock → (fenced register, control counter) at the end.
/// `recoveries`: after each fault (and the run), when each lock was acquired.
pub fn check(
    ops: &[Op],
    ttl: Duration,
    finals: &HashMap<u32, (i64, i64)>,
    recoveries: &[Recovery],
) -> Report {
    let mut report = Report { operations: ops.len(), ..Report::default() };
    for op in ops.iter().filter(|op| op.is_lock_operation()) {
        report.lock_operations += 1;
        *report.outcomes.entry(format!("{:?} {:?}", op.kind, op.outcome).to_lowercase()).or_default() += 1;
    }
    let windows = leases::windows(ops);
    mutual_exclusion(&windows, ttl, &mut report);
    semaphores::permit_limit(&windows, ttl, SEMAPHORE_LIMIT, &mut report);
    lock_sets::answers(ops, &mut report);
    fencing_order(ops, &mut report);
    registers(ops, finals, &mut report);
    let limit = recovery_limit(ttl);
    report.recoveries_checked = recoveries.len();
    for Recovery { after, lock, took } in recoveries {
        match took.filter(|&t| t <= limit) {
            Some(took) => {
                report.slowest_recovery_ms = report.slowest_recovery_ms.max(took.as_secs_f64() * 1e3)
            }
            None => {
                report.unrecovered_locks += 1;
                report.example(format!("lock {lock} was not acquired within {limit:?} after {after} healed"));
            }
        }
    }
    report
}

/// How soon a lock must be acquirable again once a fault heals.
pub fn recovery_limit(ttl: Duration) -> Duration {
    ttl + Duration::from_secs(2)
}

/// Shared windows may overlap each other, nothing else may overlap: each
/// window, in start order, against the latest-ending earlier one it excludes.
fn mutual_exclusion(windows: &[Window], ttl: Duration, report: &mut Report) {
    let mut by_lock: HashMap<u32, Vec<&Window>> = HashMap::new();
    for w in windows {
        if let Held::Lock(lock) = w.held {
            by_lock.entry(lock).or_default().push(w);
        }
    }
    report.leases_granted = by_lock.values().map(Vec::len).sum();
    report.shared_leases_granted = by_lock.values().flatten().filter(|w| w.shared).count();
    for (lock, mut list) in by_lock {
        list.sort_by_key(|w| w.start);
        let (mut latest, mut latest_exclusive): (Option<&Window>, Option<&Window>) = (None, None);
        for w in list {
            let excluded = if w.shared { latest_exclusive } else { latest };
            if let Some(prev) = excluded.filter(|prev| prev.end(ttl) > w.start) {
                report.mutual_exclusion_violations += 1;
                report.example(format!(
                    "lock {lock}: client {} (token {}) held it until {:.1} ms but client {} (token {}) got it at {:.1} ms",
                    prev.client, prev.token, millis(prev.end(ttl)), w.client, w.token, millis(w.start)
                ));
            }
            let later = |prev: Option<&Window>| prev.map_or(true, |prev| w.end(ttl) > prev.end(ttl));
            if later(latest) {
                latest = Some(w);
            }
            if !w.shared && later(latest_exclusive) {
                latest_exclusive = Some(w);
            }
        }
    }
}

/// A fencing token's grant: a native lock grant's, a semaphore permit's or
/// a set member's.
struct Grant {
    client: u32,
    invoke: u64,
    complete: u64,
    token: Option<i64>,
}

fn grants(ops: &[Op]) -> Vec<Grant> {
    let tokens = |op: &Op| match (op.kind, op.outcome) {
        // Locklock grants carry no fencing token: mutual exclusion covers them.
        _ if op.is_native_grant() => vec![op.fencing_token],
        (Kind::SemaphoreAcquire, Outcome::Ok) => vec![op.fencing_token],
        // A member the answer left out is the all-or-nothing check's.
        (Kind::SetAcquire, Outcome::Ok) => op.member_tokens.iter().flatten().map(|&t| Some(t)).collect(),
        _ => Vec::new(),
    };
    let grant = |op: &Op, token| Grant { client: op.client, invoke: op.invoke, complete: op.complete, token };
    ops.iter().flat_map(|op| tokens(op).into_iter().map(move |token| grant(op, token))).collect()
}

fn fencing_order(ops: &[Op], report: &mut Report) {
    let mut granted = grants(ops);
    let mut seen = HashSet::new();
    for grant in &granted {
        match grant.token {
            Some(token) if seen.insert(token) => {}
            token => {
                report.fencing_violations += 1;
                report.example(format!(
                    "client {} got a missing or duplicate fencing token {token:?}",
                    grant.client
                ));
            }
        }
    }
    // Sweep in invoke order, folding in every grant that completed before.
    let mut by_complete: Vec<(u64, i64)> =
        granted.iter().map(|g| (g.complete, g.token.unwrap_or(i64::MIN))).collect();
    by_complete.sort_unstable();
    granted.sort_by_key(|g| g.invoke);
    let (mut next, mut highest) = (0, i64::MIN);
    for grant in granted {
        while next < by_complete.len() && by_complete[next].0 < grant.invoke {
            highest = highest.max(by_complete[next].1);
            next += 1;
        }
        let token = grant.token.unwrap_or(i64::MIN);
        if token <= highest {
            report.fencing_violations += 1;
            report.example(format!(
                "client {} got fencing token {token} at {:.1} ms, not above {highest} granted before",
                grant.client,
                millis(grant.invoke)
            ));
        }
    }
}

fn registers(ops: &[Op], finals: &HashMap<u32, (i64, i64)>, report: &mut Report) {
    let mut fenced: HashMap<u32, Vec<i64>> = HashMap::new();
    let mut control: HashMap<u32, i64> = HashMap::new();
    for op in ops.iter().filter(|op| op.kind == Kind::Write) {
        report.control_writes += 1;
        *control.entry(op.lock).or_default() += 1;
        match op.fenced_ok {
            Some(true) => fenced.entry(op.lock).or_default().push(op.fenced.unwrap_or(0)),
            _ => report.fenced_rejected_stale_writes += 1,
        }
    }
    for (lock, mut values) in fenced {
        report.fenced_acknowledged_writes += values.len();
        values.sort_unstable();
        let n = values.len() as i64;
        let expected: Vec<i64> = (1..=n).collect();
        let final_value = finals.get(&lock).map_or(0, |f| f.0);
        if values != expected || final_value != n {
            values.dedup();
            let lost = n - values.len() as i64 + (n - final_value).abs();
            report.fenced_lost_writes += lost.max(1);
            report.example(format!(
                "lock {lock}: {n} acknowledged fenced writes, {} distinct, register ends at {final_value}",
                values.len()
            ));
        }
    }
    for (lock, writes) in control {
        let final_value = finals.get(&lock).map_or(0, |f| f.1);
        report.control_lost_updates += writes - final_value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(2);
    const MS: u64 = 1_000_000;

    fn acquire(client: u32, lease: u64, invoke_ms: u64, complete_ms: u64, token: i64) -> Op {
        let mut op = Op::new(client, Kind::Acquire, 0, lease, invoke_ms * MS);
        op.complete = complete_ms * MS;
        op.outcome = Outcome::Ok;
        op.fencing_token = Some(token);
        op
    }

    fn release(client: u32, lease: u64, invoke_ms: u64) -> Op {
        let mut op = Op::new(client, Kind::Release, 0, lease, invoke_ms * MS);
        op.complete = invoke_ms * MS + MS;
        op.outcome = Outcome::Ok;
        op
    }

    fn write(lock: u32, token: i64, fenced_ok: bool, fenced: i64, control: i64) -> Op {
        let mut op = Op::new(1, Kind::Write, lock, 1, 0);
        (op.fencing_token, op.fenced_ok, op.fenced, op.control) =
            (Some(token), Some(fenced_ok), Some(fenced), Some(control));
        op
    }

    #[test]
    fn a_clean_history_passes() {
        let ops = vec![acquire(1, 1, 0, 10, 1), release(1, 1, 500), acquire(2, 1, 600, 610, 2)];
        let recovered = Recovery { after: "the run".into(), lock: 0, took: Some(Duration::from_secs(1)) };
        let report = check(&ops, TTL, &HashMap::new(), &[recovered]);
        assert_eq!(report.violations(), 0, "{:?}", report.examples);
    }

    #[test]
    fn a_second_grant_inside_a_live_window_is_a_violation() {
        let ops = vec![acquire(1, 1, 0, 10, 1), acquire(2, 1, 1000, 1010, 2)];
        let report = check(&ops, TTL, &HashMap::new(), &[]);
        assert_eq!(report.mutual_exclusion_violations, 1);
    }

    #[test]
    fn a_locklock_grant_has_no_token_but_must_not_overlap_a_native_lease() {
        let mut locklock = acquire(2, 1, 1000, 1010, 0);
        (locklock.fencing_token, locklock.api) = (None, Some("locklock".into()));
        let ops = vec![acquire(1, 1, 0, 10, 1), locklock];
        let report = check(&ops, TTL, &HashMap::new(), &[]);
        assert_eq!((report.fencing_violations, report.mutual_exclusion_violations), (0, 1));
    }

    #[test]
    fn a_handover_ends_the_old_window_and_opens_one_for_the_new_lease() {
        let mut handover = acquire(1, 2, 500, 510, 3);
        (handover.kind, handover.handed_from) = (Kind::Handover, Some(1));
        let ops =
            vec![acquire(1, 1, 0, 10, 1), handover.clone(), release(1, 2, 900), acquire(2, 1, 1000, 1010, 4)];
        let report = check(&ops, TTL, &HashMap::new(), &[]);
        assert_eq!(report.violations(), 0, "{:?}", report.examples);
        assert_eq!(report.leases_granted, 3);

        // Without the release, the handed-over lease still holds at 1010 ms.
        let unreleased = vec![acquire(1, 1, 0, 10, 1), handover, acquire(2, 1, 1000, 1010, 4)];
        assert_eq!(check(&unreleased, TTL, &HashMap::new(), &[]).mutual_exclusion_violations, 1);
    }

    #[test]
    fn a_set_member_must_not_overlap_a_plain_lease_on_its_lock() {
        let mut set = acquire(2, 1, 1000, 1010, 0);
        (set.kind, set.lock, set.members) = (Kind::SetAcquire, 5, vec![5, 0]);
        set.member_tokens = vec![Some(2), Some(3)];
        let report = check(&[acquire(1, 1, 0, 10, 1), set], TTL, &HashMap::new(), &[]);
        assert_eq!((report.mutual_exclusion_violations, report.fencing_violations), (1, 0));
    }

    #[test]
    fn shared_leases_overlap_each_other_but_never_an_exclusive_one() {
        let shared = |client, invoke_ms, token| {
            let mut op = acquire(client, 1, invoke_ms, invoke_ms + 10, token);
            op.shared = true;
            op
        };
        let readers = [shared(1, 0, 1), shared(2, 100, 2), shared(3, 200, 3)];
        assert_eq!(check(&readers, TTL, &HashMap::new(), &[]).mutual_exclusion_violations, 0);
        let writer_among_readers = [shared(1, 0, 1), acquire(2, 1, 100, 110, 2), shared(3, 200, 3)];
        assert_eq!(check(&writer_among_readers, TTL, &HashMap::new(), &[]).mutual_exclusion_violations, 2);
    }

    #[test]
    fn a_fencing_token_lower_than_an_earlier_grant_is_a_violation() {
        let ops = vec![acquire(1, 1, 0, 10, 5), release(1, 1, 100), acquire(2, 1, 3000, 3010, 4)];
        let report = check(&ops, TTL, &HashMap::new(), &[]);
        assert_eq!(report.fencing_violations, 1);
    }

    #[test]
    fn duplicate_fenced_values_are_lost_writes_and_control_losses_are_counted() {
        let ops = vec![write(0, 1, true, 1, 1), write(0, 2, true, 1, 1), write(0, 1, false, 2, 2)];
        let finals = HashMap::from([(0, (1, 2))]);
        let report = check(&ops, TTL, &finals, &[]);
        assert!(report.fenced_lost_writes > 0);
        assert_eq!(report.control_lost_updates, 1);
        assert_eq!(report.fenced_rejected_stale_writes, 1);
    }

    #[test]
    fn a_lock_that_recovers_too_slowly_is_a_violation() {
        let slow = |lock, took| Recovery { after: "the run".into(), lock, took };
        let report =
            check(&[], TTL, &HashMap::new(), &[slow(0, Some(Duration::from_secs(5))), slow(1, None)]);
        assert_eq!(report.unrecovered_locks, 2);
    }

    #[test]
    fn each_fault_needs_every_lock_granted_within_the_window_after_it_healed() {
        let fault = |healed_ms: u64| Fault {
            kind: "KillReplica".into(),
            target: String::new(),
            start: 0,
            healed: healed_ms * MS,
        };
        let mut on_lock_1 = acquire(3, 1, 5100, 5200, 3);
        on_lock_1.lock = 1;
        let ops = vec![acquire(1, 1, 900, 1000, 1), acquire(2, 1, 3000, 3500, 2), on_lock_1];
        let faults = [fault(2000), fault(5000), fault(9000)];
        let window = recovery_limit(TTL);

        let found = recoveries(&ops, &faults, 2, window, 10_000 * MS);

        // The third fault healed too close to the end to be judged.
        let took: Vec<Option<u64>> = found.iter().map(|r| r.took.map(|t| t.as_millis() as u64)).collect();
        assert_eq!(took, [Some(1500), Some(3200), None, Some(200)]);
        assert_eq!(check(&ops, TTL, &HashMap::new(), &found).unrecovered_locks, 1);
    }

    #[test]
    fn a_readers_or_a_sets_grant_counts_as_recovery_but_a_refusal_does_not() {
        let fault = Fault { kind: "ProxyDelay".into(), target: String::new(), start: 0, healed: 1000 * MS };
        let mut shared = acquire(1, 1, 1100, 1200, 1);
        shared.shared = true;
        let mut set = acquire(2, 2, 1300, 1400, 2);
        (set.kind, set.members) = (Kind::SetAcquire, vec![1, 2]);
        let mut refused = acquire(3, 3, 1500, 1600, 3);
        (refused.lock, refused.outcome) = (3, Outcome::Fail);
        let ops = vec![shared, set, refused];

        let found = recoveries(&ops, &[fault], 4, recovery_limit(TTL), 10_000 * MS);

        let took: Vec<Option<u64>> = found.iter().map(|r| r.took.map(|t| t.as_millis() as u64)).collect();
        assert_eq!(took, [Some(200), Some(400), Some(400), None]);
    }
}
