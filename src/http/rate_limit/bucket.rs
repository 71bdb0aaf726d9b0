//! A token bucket: the arithmetic of a rate limit, apart from the caches and
//! the middleware that pick a request's bucket.

use std::time::Instant;

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::config::Limit;

/// A bucket's state after a request, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u32,
    /// Seconds until the next request would be allowed (0 when it was).
    pub retry_after: u32,
}

impl Quota {
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        let value = |n: u32| HeaderValue::from(n);
        [
            (HeaderName::from_static("ratelimit-limit"), value(self.limit)),
            (HeaderName::from_static("ratelimit-remaining"), value(self.remaining)),
            (HeaderName::from_static("ratelimit-reset"), value(self.reset)),
        ]
    }
}

pub(super) struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// A full bucket of `limit`'s size.
    pub(super) fn full(limit: Limit, now: Instant) -> Self {
        Self { tokens: f64::from(limit.burst), updated: now }
    }

    pub(super) fn take(&mut self, limit: Limit, now: Instant) -> Result<Quota, Quota> {
        let burst = f64::from(limit.burst);
        let refilled = now.saturating_duration_since(self.updated).as_secs_f64() * limit.per_second;
        self.tokens = (self.tokens + refilled).min(burst);
        self.updated = now;
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        let seconds = |tokens: f64| (tokens.max(0.0) / limit.per_second).ceil() as u32;
        let quota = Quota {
            limit: limit.burst,
            remaining: self.tokens.floor() as u32,
            reset: seconds(burst - self.tokens),
            retry_after: if allowed { 0 } else { seconds(1.0 - self.tokens).max(1) },
        };
        if allowed {
            Ok(quota)
        } else {
            Err(quota)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const LIMIT: Limit = Limit { per_second: 2.0, burst: 3 };

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_until_it_refills() {
        let start = Instant::now();
        let mut bucket = Bucket { tokens: 3.0, updated: start };
        for remaining in [2, 1, 0] {
            assert_eq!(bucket.take(LIMIT, start).unwrap().remaining, remaining);
        }
        let refused = bucket.take(LIMIT, start).unwrap_err();
        assert_eq!((refused.retry_after, refused.reset), (1, 2));
        assert!(bucket.take(LIMIT, start + Duration::from_millis(500)).is_ok());
        assert!(bucket.take(LIMIT, start + Duration::from_millis(500)).is_err());
    }
}
