//! A semaphore admits at most its limit: on each semaphore, no more than
//! `limit` permits' windows overlap at any moment.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use super::leases::{Held, Window};
use super::Report;
use crate::clock::millis;

pub fn permit_limit(windows: &[Window], ttl: Duration, limit: usize, report: &mut Report) {
    let mut by_semaphore: HashMap<u32, Vec<&Window>> = HashMap::new();
    for w in windows {
        if let Held::Permit(semaphore) = w.held {
            by_semaphore.entry(semaphore).or_default().push(w);
        }
    }
    for (semaphore, mut list) in by_semaphore {
        report.permits_granted += list.len();
        list.sort_by_key(|w| w.start);
        // The ends of the windows opened so far and not yet over.
        let mut open: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
        for w in list {
            while open.peek().is_some_and(|Reverse(end)| *end <= w.start) {
                open.pop();
            }
            if open.len() >= limit {
                report.permit_limit_violations += 1;
                report.example(format!(
                    "semaphore {semaphore}: client {} (token {}) got a permit at {:.1} ms while {} others held one",
                    w.client,
                    w.token,
                    millis(w.start),
                    open.len()
                ));
            }
            open.push(Reverse(w.end(ttl)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Kind, Op, Outcome};

    const TTL: Duration = Duration::from_secs(2);
    const MS: u64 = 1_000_000;

    fn permit(client: u32, invoke_ms: u64, token: i64) -> Op {
        let mut op = Op::new(client, Kind::SemaphoreAcquire, 0, 1, invoke_ms * MS);
        (op.complete, op.outcome, op.fencing_token) = (invoke_ms * MS + 10 * MS, Outcome::Ok, Some(token));
        op
    }

    fn release(client: u32, invoke_ms: u64) -> Op {
        let mut op = Op::new(client, Kind::SemaphoreRelease, 0, 1, invoke_ms * MS);
        (op.complete, op.outcome) = (invoke_ms * MS + MS, Outcome::Ok);
        op
    }

    fn check(ops: &[Op], limit: usize) -> Report {
        let mut report = Report::default();
        permit_limit(&super::super::leases::windows(ops), TTL, limit, &mut report);
        report
    }

    #[test]
    fn up_to_the_limit_may_hold_at_once() {
        let ops = [permit(1, 0, 1), permit(2, 100, 2), permit(3, 200, 3)];
        assert_eq!(check(&ops, 3).permit_limit_violations, 0);
        assert_eq!(check(&ops, 2).permit_limit_violations, 1);
    }

    #[test]
    fn a_released_or_lapsed_permit_makes_room() {
        let released = [permit(1, 0, 1), permit(2, 100, 2), release(1, 150), permit(3, 200, 3)];
        assert_eq!(check(&released, 2).permit_limit_violations, 0);
        // Client 1's permit, sent at 0 ms, is trusted until 2000 ms.
        let lapsed = [permit(1, 0, 1), permit(2, 100, 2), permit(3, 1990, 3), permit(4, 2000, 4)];
        assert_eq!(check(&lapsed, 2).permit_limit_violations, 1);
    }
}
