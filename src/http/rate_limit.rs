//! Rate limits, per replica: a token bucket per API key, sized by the key's
//! plan, and one per client address for requests without a key this replica
//! has verified: anonymous calls, malformed keys, and each key and secret not
//! seen in the last few seconds (a forged key, a key's first use). So every
//! argon2 verification is paid for from the address's bucket, and concurrent
//! first uses of one key, which share one verification, pay once.
//! Over the limit: 429 `rate_limited` with `Retry-After`; every limited
//! answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset`. Health checks and metrics are not limited.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use moka::sync::Cache;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::auth::Authenticator;
use crate::domain::Plan;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// How many may come at once.
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Per client address, for requests without a verified key.
    pub anonymous: Limit,
    pub hobbyist: Limit,
    pub business: Limit,
}

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

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn take(&mut self, limit: Limit, now: Instant) -> Result<Quota, Quota> {
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

#[derive(Clone)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    auth: Authenticator,
    buckets: Cache<String, Arc<Mutex<Bucket>>>,
    /// Keys (id and SHA-256 of the secret) presented lately but not verified.
    unverified: Cache<(String, [u8; 32]), ()>,
}

impl RateLimiter {
    pub fn new(settings: &RateLimitSettings, auth: Authenticator) -> Self {
        let buckets = Cache::builder().max_capacity(1_000_000).time_to_idle(Duration::from_secs(600)).build();
        let unverified = Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(5)).build();
        Self { settings: settings.clone(), auth, buckets, unverified }
    }

    /// Which bucket a request draws from, and its size; `None` for a key
    /// presented again while its verification (or refusal) is under way or
    /// remembered, which costs no hashing.
    async fn bucket_for(&self, req: &ServiceRequest) -> Option<(String, Limit)> {
        if let Some(key) = super::extract::presented_key(req.request()) {
            match self.auth.cached_plan(&key).await {
                Some(Plan::Hobbyist) => return Some((format!("key {}", key.id()), self.settings.hobbyist)),
                Some(Plan::Business) => return Some((format!("key {}", key.id()), self.settings.business)),
                None => {}
            }
            let seen = (key.id().to_string(), Sha256::digest(key.secret().as_bytes()).into());
            if self.unverified.contains_key(&seen) {
                return None;
            }
            self.unverified.insert(seen, ());
        }
        let address = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        Some((format!("address {address}"), self.settings.anonymous))
    }

    fn take(&self, bucket: String, limit: Limit) -> Result<Quota, Quota> {
        let now = Instant::now();
        let bucket = self.buckets.get_with(bucket, || {
            Arc::new(Mutex::new(Bucket { tokens: f64::from(limit.burst), updated: now }))
        });
        let mut bucket = bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        bucket.take(limit, now)
    }
}

fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The middleware: answers 429 over the limit, adds the headers otherwise.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limiter = req.app_data::<Data<RateLimiter>>().cloned();
    let Some(limiter) = limiter.filter(|l| l.settings.enabled && !exempt(req.path())) else {
        return next.call(req).await;
    };
    let Some((bucket, limit)) = limiter.bucket_for(&req).await else {
        return next.call(req).await;
    };
    let quota = limiter.take(bucket, limit).map_err(ApiError::RateLimited)?;
    let mut response = next.call(req).await?;
    for (name, value) in quota.headers() {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
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
