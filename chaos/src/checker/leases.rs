//! Every lease's holding window, from the history: a lock's (plain, through
//! either API, or a set's member) or a semaphore's permit.
//!
//! A window opens when the grant's answer arrives and ends at the send time
//! of the lease's last acknowledged grant or renewal plus the TTL, or at the
//! send time of its release (or handover) if that is earlier: the server's
//! lease, which starts before its answer and ends by the database clock no
//! sooner than that, covers it.

use std::collections::HashMap;
use std::time::Duration;

use crate::clock::nanos;
use crate::history::{Kind, Op, Outcome};

/// What a lease holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Held {
    Lock(u32),
    /// A permit of semaphore N.
    Permit(u32),
}

#[derive(Debug)]
pub struct Window {
    pub held: Held,
    /// A shared (read) lease of a lock.
    pub shared: bool,
    pub client: u32,
    pub token: i64,
    pub start: u64,
    last_ack_send: u64,
    release_send: Option<u64>,
}

impl Window {
    pub fn end(&self, ttl: Duration) -> u64 {
        let lapse = self.last_ack_send + nanos(ttl);
        self.release_send.map_or(lapse, |r| r.min(lapse))
    }

    fn released_at(&mut self, send: u64) {
        self.release_send = Some(self.release_send.map_or(send, |r| r.min(send)));
    }
}

enum Step {
    Grant,
    Renew,
    End,
}

pub fn windows(ops: &[Op]) -> Vec<Window> {
    let mut windows: HashMap<(u32, u64, Held), Window> = HashMap::new();
    for op in ops {
        if let (Kind::Handover, Some(from)) = (op.kind, op.handed_from) {
            // Whatever its outcome, a handover may have ended the old lease.
            if let Some(w) = windows.get_mut(&(op.client, from, Held::Lock(op.lock))) {
                w.released_at(op.invoke);
            }
        }
        let Some(step) = step(op) else { continue };
        for (held, token) in subjects(op) {
            let key = (op.client, op.lease, held);
            match step {
                Step::Grant => {
                    let token = token.unwrap_or(-1);
                    let (client, start, last_ack_send) = (op.client, op.complete, op.invoke);
                    let shared = op.shared;
                    let window =
                        Window { held, shared, client, token, start, last_ack_send, release_send: None };
                    windows.insert(key, window);
                }
                Step::Renew => {
                    if let Some(w) = windows.get_mut(&key) {
                        w.last_ack_send = w.last_ack_send.max(op.invoke);
                    }
                }
                Step::End => {
                    if let Some(w) = windows.get_mut(&key) {
                        w.released_at(op.invoke);
                    }
                }
            }
        }
    }
    windows.into_values().collect()
}

/// A release ends the window whatever its outcome: the holder stopped
/// trusting the lease when it sent it.
fn step(op: &Op) -> Option<Step> {
    match (op.kind, op.outcome) {
        (Kind::Acquire | Kind::Handover | Kind::SemaphoreAcquire | Kind::SetAcquire, Outcome::Ok) => {
            Some(Step::Grant)
        }
        (Kind::Renew | Kind::SemaphoreRenew | Kind::SetRenew, Outcome::Ok) => Some(Step::Renew),
        (Kind::Release | Kind::SemaphoreRelease | Kind::SetRelease, _) => Some(Step::End),
        _ => None,
    }
}

/// What an operation is about, each with the fencing token its answer gave.
fn subjects(op: &Op) -> Vec<(Held, Option<i64>)> {
    match op.kind {
        Kind::SetAcquire | Kind::SetRenew | Kind::SetRelease => {
            let tokens = op.member_tokens.iter().copied().chain(std::iter::repeat(None));
            op.members.iter().zip(tokens).map(|(&lock, token)| (Held::Lock(lock), token)).collect()
        }
        Kind::SemaphoreAcquire | Kind::SemaphoreRenew | Kind::SemaphoreRelease => {
            vec![(Held::Permit(op.lock), op.fencing_token)]
        }
        _ => vec![(Held::Lock(op.lock), op.fencing_token)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn op(client: u32, kind: Kind, lock: u32, invoke_ms: u64) -> Op {
        let mut op = Op::new(client, kind, lock, 1, invoke_ms * MS);
        (op.complete, op.outcome) = (invoke_ms * MS + 10 * MS, Outcome::Ok);
        op
    }

    #[test]
    fn a_set_opens_a_window_per_member_that_its_renewals_and_release_move() {
        let mut acquire = op(1, Kind::SetAcquire, 4, 0);
        (acquire.members, acquire.member_tokens) = (vec![4, 2], vec![Some(10), Some(11)]);
        let mut renew = op(1, Kind::SetRenew, 4, 500);
        renew.members = vec![2]; // lock 4 was not renewed
        let mut release = op(1, Kind::SetRelease, 4, 900);
        release.members = vec![4, 2];

        let ttl = Duration::from_secs(2);
        let mut found: Vec<(Held, i64, u64)> =
            windows(&[acquire.clone(), renew]).iter().map(|w| (w.held, w.token, w.end(ttl) / MS)).collect();
        found.sort_by_key(|w| w.1);
        assert_eq!(found, [(Held::Lock(4), 10, 2000), (Held::Lock(2), 11, 2500)]);
        let released: Vec<u64> = windows(&[acquire, release]).iter().map(|w| w.end(ttl) / MS).collect();
        assert_eq!(released, [900, 900]);
    }
}
