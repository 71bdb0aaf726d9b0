//! The history held against the audit trail the last primary has, after
//! every failover of an `--ha` run:
//!
//! 1. every acknowledged grant is there, with its fencing token and the hash
//!    of its lock token; every acknowledged renewal and release too;
//! 2. per lock, in the trail's order, leases follow one another: a grant
//!    only once the previous lease ended (released or expired), renewals and
//!    ends only of the current lease, fencing tokens strictly increasing —
//!    also across each fault (the pairs that straddle one are counted);
//! 3. every acknowledged lease was later released (by its holder, who asked)
//!    or expired (not before its `expires_at`), or is still in place.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::audit::{Event, Trail};
use crate::history::{Fault, Kind, Op, Outcome};

#[derive(Debug, Default, Serialize)]
pub struct TrailReport {
    pub events: usize,
    pub grants_matched: usize,
    pub missing_grants: usize,
    pub missing_renewals: usize,
    pub missing_releases: usize,
    pub fencing_regressions: usize,
    /// Consecutive grants of a lock with a fault's start between them.
    pub grant_pairs_across_faults: usize,
    pub overlapping_grants: usize,
    pub stray_events: usize,
    pub early_expiries: usize,
    pub unasked_releases: usize,
    pub unended_leases: usize,
    pub examples: Vec<String>,
}

impl TrailReport {
    pub fn violations(&self) -> usize {
        self.missing_grants
            + self.missing_renewals
            + self.missing_releases
            + self.fencing_regressions
            + self.overlapping_grants
            + self.stray_events
            + self.early_expiries
            + self.unasked_releases
            + self.unended_leases
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < 20 {
            self.examples.push(text);
        }
    }
}

/// `fault_starts`: when each fault began, in database-clock microseconds.
pub fn check(ops: &[Op], trail: &Trail, fault_starts: &[i64]) -> TrailReport {
    let mut report = TrailReport { events: trail.events.len(), ..TrailReport::default() };
    sequence(&trail.events, fault_starts, &mut report);
    acknowledged(ops, trail, &mut report);
    report
}

const ENDS: [&str; 3] = ["released", "expired", "force_released"];

/// A lock as the trail has it so far.
#[derive(Default)]
struct LockState {
    /// The current lease's fencing token, while it has not ended.
    current: Option<i64>,
    /// The last grant's fencing token and time.
    last: Option<(i64, i64)>,
}

/// Per lock, in id order: one lease at a time, tokens increasing.
fn sequence(events: &[Event], fault_starts: &[i64], report: &mut TrailReport) {
    let mut locks: HashMap<u32, LockState> = HashMap::new();
    for e in events {
        let LockState { current, last } = locks.entry(e.lock).or_default();
        match e.event.as_str() {
            "acquired" => {
                if let Some(held) = *current {
                    report.overlapping_grants += 1;
                    report.example(format!(
                        "lock-{}: event {} granted token {} while {held} had not ended",
                        e.lock, e.id, e.fencing_token
                    ));
                }
                if let Some((token, at)) = *last {
                    if e.fencing_token <= token {
                        report.fencing_regressions += 1;
                        report.example(format!(
                            "lock-{}: event {} granted token {} after {token}",
                            e.lock, e.id, e.fencing_token
                        ));
                    }
                    let straddles = fault_starts.iter().any(|&f| at <= f && f < e.occurred_at);
                    report.grant_pairs_across_faults += usize::from(straddles);
                }
                (*current, *last) = (Some(e.fencing_token), Some((e.fencing_token, e.occurred_at)));
            }
            event => {
                if *current != Some(e.fencing_token) {
                    report.stray_events += 1;
                    report.example(format!(
                        "lock-{}: event {} {event} token {} but the lease is {current:?}",
                        e.lock, e.id, e.fencing_token
                    ));
                } else if ENDS.contains(&event) {
                    *current = None;
                }
                if event == "expired" && e.expires_at.is_some_and(|x| e.occurred_at < x) {
                    report.early_expiries += 1;
                    report.example(format!(
                        "lock-{}: event {} expired token {} before its expires_at",
                        e.lock, e.id, e.fencing_token
                    ));
                }
            }
        }
    }
}

/// What the history acknowledged, looked up in the trail.
fn acknowledged(ops: &[Op], trail: &Trail, report: &mut TrailReport) {
    let mut grants: HashMap<(u32, i64), &Event> = HashMap::new();
    let mut counts: HashMap<(&str, u32, i64), usize> = HashMap::new();
    for e in &trail.events {
        if e.event == "acquired" {
            grants.insert((e.lock, e.fencing_token), e);
        }
        *counts.entry((e.event.as_str(), e.lock, e.fencing_token)).or_default() += 1;
    }
    let count = |event: &str, lease: (u32, i64)| counts.get(&(event, lease.0, lease.1)).copied().unwrap_or(0);
    let ended = |lease| ENDS.iter().any(|end| count(end, lease) > 0);
    let in_place: HashSet<(u32, i64)> = trail.in_place.iter().copied().collect();
    // (client, lease number) -> (lock, fencing token), for renewals and releases.
    let mut leases: HashMap<(u32, u64), (u32, i64)> = HashMap::new();
    for op in ops.iter().filter(|op| op.is_native_grant()) {
        let Some(token) = op.fencing_token else { continue };
        let lease = (op.lock, token);
        leases.insert((op.client, op.lease), lease);
        match grants.get(&lease) {
            Some(e) if op.token_hash.is_none() || e.token_hash == op.token_hash => report.grants_matched += 1,
            found => {
                report.missing_grants += 1;
                let how = if found.is_some() { "with another lock token" } else { "not at all" };
                report.example(format!(
                    "lock-{}: acknowledged grant of token {token} is in the trail {how}",
                    op.lock
                ));
            }
        }
        if !ended(lease) && !in_place.contains(&lease) {
            report.unended_leases += 1;
            report.example(format!("lock-{}: lease {token} neither ended nor is in place", op.lock));
        }
    }
    let mut renewals: HashMap<(u32, i64), usize> = HashMap::new();
    let mut asked: HashSet<(u32, i64)> = HashSet::new();
    for op in ops.iter().filter(|op| op.api.is_none()) {
        let ending = match (op.kind, op.handed_from) {
            (Kind::Release, _) => leases.get(&(op.client, op.lease)),
            (Kind::Handover, Some(from)) => leases.get(&(op.client, from)),
            (Kind::Renew, _) if op.outcome == Outcome::Ok => {
                if let Some(token) = op.fencing_token {
                    *renewals.entry((op.lock, token)).or_default() += 1;
                }
                None
            }
            _ => None,
        };
        let Some(&lease) = ending else { continue };
        asked.insert(lease);
        if op.outcome == Outcome::Ok && count("released", lease) == 0 {
            report.missing_releases += 1;
            report.example(format!(
                "lock-{}: acknowledged release of {} is not in the trail",
                lease.0, lease.1
            ));
        }
    }
    for (&lease, &acknowledged) in &renewals {
        if count("renewed", lease) < acknowledged {
            report.missing_renewals += 1;
            report.example(format!(
                "lock-{}: {acknowledged} acknowledged renewals of {}, fewer in the trail",
                lease.0, lease.1
            ));
        }
    }
    for &lease in leases.values() {
        if count("released", lease) > 0 && !asked.contains(&lease) {
            report.unasked_releases += 1;
            report.example(format!(
                "lock-{}: lease {} was released but its holder never asked",
                lease.0, lease.1
            ));
        }
    }
}

/// The faults' start times on the database clock.
pub fn fault_starts(faults: &[Fault], anchor: Anchor) -> Vec<i64> {
    faults.iter().map(|f| anchor.wall(f.start)).collect()
}

/// A moment read on both clocks, to place monotonic times on the wall clock
/// (the database's, on this machine).
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    pub monotonic: u64,
    pub wall_micros: i64,
}

impl Anchor {
    pub fn now() -> Self {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self { monotonic: crate::clock::now(), wall_micros: wall.as_micros() as i64 }
    }

    pub fn wall(&self, monotonic: u64) -> i64 {
        self.wall_micros + (monotonic as i64 - self.monotonic as i64) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, event: &str, token: i64, occurred_at: i64, expires_at: i64) -> Event {
        let token_hash = (event == "acquired").then(|| format!("h{token}"));
        Event {
            id,
            event: event.into(),
            lock: 0,
            fencing_token: token,
            token_hash,
            occurred_at,
            expires_at: Some(expires_at),
        }
    }

    fn op(client: u32, lease: u64, kind: Kind, outcome: Outcome, token: Option<i64>) -> Op {
        let mut op = Op::new(client, kind, 0, lease, 0);
        (op.outcome, op.fencing_token) = (outcome, token);
        if matches!(kind, Kind::Acquire | Kind::Handover) && outcome == Outcome::Ok {
            op.token_hash = token.map(|t| format!("h{t}"));
        }
        op
    }

    /// Client 1 holds token 5, renews it and hands it over to itself (token
    /// 9), then releases; client 2 gets token 12 after a fault at 25 and
    /// still holds it.
    fn clean() -> (Vec<Op>, Trail) {
        let mut handover = op(1, 2, Kind::Handover, Outcome::Ok, Some(9));
        handover.handed_from = Some(1);
        let ops = vec![
            op(1, 1, Kind::Acquire, Outcome::Ok, Some(5)),
            op(1, 1, Kind::Renew, Outcome::Ok, Some(5)),
            handover,
            op(1, 2, Kind::Release, Outcome::Ok, None),
            op(2, 1, Kind::Acquire, Outcome::Ok, Some(12)),
        ];
        let events = vec![
            event(1, "acquired", 5, 10, 12),
            event(2, "renewed", 5, 11, 13),
            event(3, "released", 5, 12, 13),
            event(4, "acquired", 9, 12, 14),
            event(5, "released", 9, 13, 14),
            event(6, "acquired", 12, 30, 32),
        ];
        (ops, Trail { events, in_place: vec![(0, 12)] })
    }

    #[test]
    fn a_trail_that_matches_the_history_passes_and_counts_grants_across_faults() {
        let (ops, trail) = clean();
        let report = check(&ops, &trail, &[25]);
        assert_eq!(report.violations(), 0, "{:?}", report.examples);
        assert_eq!((report.grants_matched, report.grant_pairs_across_faults), (3, 1));
    }

    #[test]
    fn an_acknowledged_grant_the_new_primary_lacks_is_a_violation() {
        let (ops, mut trail) = clean();
        trail.events.pop();
        trail.in_place.clear();
        let report = check(&ops, &trail, &[]);
        assert_eq!((report.missing_grants, report.unended_leases), (1, 1));
    }

    #[test]
    fn a_grant_with_another_lock_token_is_a_violation() {
        let (ops, mut trail) = clean();
        trail.events[5].token_hash = Some("other".into());
        assert_eq!(check(&ops, &trail, &[]).missing_grants, 1);
    }

    #[test]
    fn a_grant_before_the_previous_lease_ended_or_with_a_lower_token_is_a_violation() {
        let (ops, mut trail) = clean();
        trail.events[4] = event(5, "acquired", 7, 13, 15);
        trail.events.truncate(5);
        let report = check(&ops, &trail, &[]);
        assert_eq!((report.overlapping_grants, report.fencing_regressions), (1, 1));
    }

    #[test]
    fn an_early_expiry_and_a_release_nobody_asked_for_are_violations() {
        let (mut ops, mut trail) = clean();
        ops.truncate(3); // client 1 never releases token 9
        trail.events[4] = event(5, "released", 9, 13, 14);
        trail.events.push(event(7, "expired", 12, 31, 32));
        let report = check(&ops, &trail, &[]);
        assert_eq!((report.unasked_releases, report.early_expiries), (1, 1));
    }

    #[test]
    fn acknowledged_renewals_and_releases_must_be_in_the_trail() {
        let (ops, mut trail) = clean();
        trail.events.remove(1); // the renewal
        trail.events[3].event = "expired".into(); // token 9 expired instead of its release
        trail.events[3].expires_at = Some(13);
        let report = check(&ops, &trail, &[]);
        assert_eq!((report.missing_renewals, report.missing_releases), (1, 1));
    }
}
