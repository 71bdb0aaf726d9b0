//! Rate limits, per replica: a token bucket per API key, sized by the key's
//! plan, and one per client address for requests without a key this replica
//! has verified: anonymous calls, malformed keys, and each key and secret not
//! seen in the last few seconds (a forged key, a key's first use). So every
//! argon2 verification is paid for from the address's bucket, and concurrent
//! first uses of one key, which share one verification, pay once.
//! Over the limit: 429 `rate_limited` with `Retry-After`; every limited
//! answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset`. Health checks and metrics are not limited.

pub mod bucket;
pub mod signup;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Data;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

pub use crate::config::{Limit, RateLimitSettings};

use super::error::ApiError;
use crate::auth::Authenticator;
use crate::domain::Plan;
use bucket::{Bucket, Quota};

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
        let bucket = self.buckets.get_with(bucket, || Arc::new(Mutex::new(Bucket::full(limit, now))));
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
