//! Sign-up's own, tighter limit: `signup.per_hour` sign-ups per client
//! address, per replica, refilling evenly over the hour.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::bucket::{Bucket, Quota};
use crate::config::{Limit, SignupSettings};

#[derive(Clone)]
pub struct SignupLimiter {
    pub enabled: bool,
    limit: Limit,
    buckets: Cache<IpAddr, Arc<Mutex<Bucket>>>,
}

impl SignupLimiter {
    pub fn new(settings: &SignupSettings) -> Self {
        let limit =
            Limit { per_second: f64::from(settings.per_hour.max(1)) / 3600.0, burst: settings.per_hour };
        let buckets = Cache::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(3600)).build();
        Self { enabled: settings.enabled, limit, buckets }
    }

    /// One sign-up from `address`, or the quota that refuses it.
    pub fn take(&self, address: IpAddr) -> Result<Quota, Quota> {
        let now = Instant::now();
        let bucket = self.buckets.get_with(address, || Arc::new(Mutex::new(Bucket::full(self.limit, now))));
        let mut bucket = bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        bucket.take(self.limit, now)
    }
}
