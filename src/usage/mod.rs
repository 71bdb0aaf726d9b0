//! Per-account daily usage (docs/accounts.md#usage). What the audit trail
//! holds (acquired, renewed, released, expired, force released) is counted
//! from it by [`rollup`]; what it does not (conflicts, waits) each replica
//! counts here, in memory, and the rollup task adds to the day's row every
//! interval. A crash loses at most one interval of those two counts.

pub mod rollup;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One account's conflicts and waits not yet written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub conflicts: i64,
    pub waits: i64,
}

/// A replica's conflicts and waits by account id, since the last write.
/// Touched once per refused or queued acquire, never per attempt.
#[derive(Debug, Default)]
pub struct UsageCounters {
    tallies: Mutex<HashMap<i64, Tally>>,
}

impl UsageCounters {
    /// An acquire refused because the lock (semaphore, set) was held or
    /// reserved for earlier waiters, after any wait.
    pub fn conflict(&self, account_id: i64) {
        self.add(account_id, Tally { conflicts: 1, waits: 0 });
    }

    /// An acquire that took a place in a queue to wait.
    pub fn wait(&self, account_id: i64) {
        self.add(account_id, Tally { conflicts: 0, waits: 1 });
    }

    /// Everything counted so far, leaving nothing behind.
    pub fn take(&self) -> HashMap<i64, Tally> {
        std::mem::take(&mut *self.lock())
    }

    /// Adds back what `take` gave, when writing it failed.
    pub fn put_back(&self, taken: HashMap<i64, Tally>) {
        let mut tallies = self.lock();
        for (account_id, tally) in taken {
            add_to(&mut tallies, account_id, tally);
        }
    }

    fn add(&self, account_id: i64, tally: Tally) {
        add_to(&mut self.lock(), account_id, tally);
    }

    /// The counts stay usable if a thread panicked holding the lock.
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Tally>> {
        self.tallies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn add_to(tallies: &mut HashMap<i64, Tally>, account_id: i64, tally: Tally) {
    let entry = tallies.entry(account_id).or_default();
    entry.conflicts += tally.conflicts;
    entry.waits += tally.waits;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_taken_once_and_put_back_add_to_new_ones() {
        let counters = UsageCounters::default();
        counters.conflict(1);
        counters.conflict(1);
        counters.wait(2);

        let taken = counters.take();
        assert_eq!(taken[&1], Tally { conflicts: 2, waits: 0 });
        assert_eq!(taken[&2], Tally { conflicts: 0, waits: 1 });
        assert!(counters.take().is_empty());

        counters.wait(1);
        counters.put_back(taken);
        let again = counters.take();
        assert_eq!(again[&1], Tally { conflicts: 2, waits: 1 });
        assert_eq!(again[&2], Tally { conflicts: 0, waits: 1 });
    }
}
