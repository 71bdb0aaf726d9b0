//! One clock for every process of a run: `CLOCK_MONOTONIC` is system-wide,
//! never jumps, and keeps counting while a process is stopped, so invoke and
//! completion times taken by different client processes compare directly.

use std::time::Duration;

/// Nanoseconds on the system's monotonic clock.
pub fn now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill in.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_MONOTONIC is always available on Linux");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn nanos(d: Duration) -> u64 {
    d.as_nanos() as u64
}

pub fn millis(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}
