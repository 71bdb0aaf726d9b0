//! Exponential backoff with jitter, so retrying clients do not move in step.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    first: Duration,
    longest: Duration,
}

impl Backoff {
    pub fn new(first: Duration, longest: Duration) -> Self {
        Self { first, longest: longest.max(first) }
    }

    pub fn pauses(&self) -> Pauses {
        Pauses { next: self.first, longest: self.longest }
    }
}

/// The pauses of one retry loop: each about twice the last, up to the
/// longest, each scaled by a random factor in [0.5, 1.0].
#[derive(Debug)]
pub(crate) struct Pauses {
    next: Duration,
    longest: Duration,
}

impl Pauses {
    #[allow(clippy::should_implement_trait)] // never ends, unlike an Iterator
    pub fn next(&mut self) -> Duration {
        let pause = jitter(self.next);
        self.next = (self.next * 2).min(self.longest);
        pause
    }

    /// The next pause, but no shorter than the server asked for (capped at
    /// the longest pause, so a large hint cannot stall a heartbeat).
    pub fn next_at_least(&mut self, hint: Duration) -> Duration {
        self.next().max(hint.min(self.longest))
    }
}

fn jitter(pause: Duration) -> Duration {
    let random = RandomState::new().build_hasher().finish();
    let factor = 0.5 + (random % 1000) as f64 / 2000.0;
    pause.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_with_jitter() {
        let mut pauses = Backoff::new(Duration::from_millis(100), Duration::from_millis(400)).pauses();
        let got: Vec<Duration> = (0..5).map(|_| pauses.next()).collect();
        let nominal = [100, 200, 400, 400, 400];
        for (pause, nominal) in got.iter().zip(nominal) {
            let nominal = Duration::from_millis(nominal);
            assert!(*pause >= nominal / 2 && *pause <= nominal, "{pause:?} for {nominal:?}");
        }
    }

    #[test]
    fn a_retry_after_hint_lengthens_the_pause_but_not_past_the_longest() {
        let mut pauses = Backoff::new(Duration::from_millis(10), Duration::from_secs(2)).pauses();
        assert_eq!(pauses.next_at_least(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(pauses.next_at_least(Duration::from_secs(60)), Duration::from_secs(2));
    }
}
