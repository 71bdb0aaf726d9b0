//! API-key authentication. argon2 is slow by design, so a key is verified once
//! and then remembered for a while, keyed by its id and the SHA-256 of its
//! secret: a lookup never compares clear secrets, and what timing could reveal
//! is at most bits of a hash of a 256-bit random secret. Every few seconds a
//! remembered key's row is read again, so that revocation reaches every
//! replica quickly. Concurrent first uses of one key share one verification,
//! and at most one argon2 runs per core.
//!
//! A refused key costs an attacker time, not the server CPU: an unknown or
//! revoked id is refused without hashing, a key and secret that failed are
//! remembered briefly and refused without hashing again, and every refusal
//! is answered at the same moment (`failure_floor_ms` after the request
//! began, waited out with a timer), so an unknown id and a wrong secret look
//! alike.

mod secret;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::Semaphore;

pub use secret::{hash_secret, verify_secret};

use crate::config::AuthSettings;
use crate::domain::{ApiKey, KeyId, Plan, Principal};
use crate::store::{self, keys::ActiveKey, StoreError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
}

type CacheKey = (KeyId, [u8; 32]);

struct Verified {
    secret_hash: String,
    principal: Principal,
    checked_at: Instant,
}

#[derive(Clone)]
pub struct Authenticator {
    pool: PgPool,
    verified: Cache<CacheKey, Arc<Verified>>,
    recheck: Duration,
    db_timeout: Duration,
    hashing: Arc<Semaphore>,
    stats: Arc<KeyCacheStats>,
    failed: Cache<CacheKey, ()>,
    failure_floor: Duration,
}

/// How often the cache answered, for `/metrics`: lookups, and the misses
/// among them that ran argon2.
#[derive(Debug, Default)]
pub struct KeyCacheStats {
    lookups: AtomicU64,
    misses: AtomicU64,
}

impl KeyCacheStats {
    /// (lookups, misses)
    pub fn read(&self) -> (u64, u64) {
        (self.lookups.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

impl Authenticator {
    pub fn new(pool: PgPool, settings: &AuthSettings, db_timeout: Duration) -> Self {
        let verified = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(settings.cache_seconds))
            .build();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            pool,
            verified,
            recheck: Duration::from_secs(settings.recheck_seconds),
            db_timeout,
            hashing: Arc::new(Semaphore::new(cores)),
            stats: Arc::default(),
            failed: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(settings.failure_cache_seconds))
                .build(),
            failure_floor: Duration::from_millis(settings.failure_floor_ms),
        }
    }

    pub fn cache_stats(&self) -> Arc<KeyCacheStats> {
        self.stats.clone()
    }

    pub async fn authenticate(&self, key: &ApiKey) -> Result<Principal, AuthError> {
        let started = tokio::time::Instant::now();
        let outcome = self.check(key).await;
        if matches!(outcome, Err(AuthError::Unauthorized)) {
            tokio::time::sleep_until(started + self.failure_floor).await;
        }
        outcome
    }

    /// The plan of a key verified recently on this replica; `None` for any
    /// other key. Costs no database access and no hashing.
    pub async fn cached_plan(&self, key: &ApiKey) -> Option<Plan> {
        let entry = self.verified.get(&cache_key(key)).await?;
        Some(entry.principal.plan)
    }

    async fn check(&self, key: &ApiKey) -> Result<Principal, AuthError> {
        self.stats.lookups.fetch_add(1, Ordering::Relaxed);
        let cache_key = cache_key(key);
        if self.failed.contains_key(&cache_key) {
            return Err(AuthError::Unauthorized);
        }
        let entry = self
            .verified
            .try_get_with(cache_key.clone(), self.verify(key))
            .await
            .map_err(|shared| (*shared).clone())?;
        if entry.checked_at.elapsed() < self.recheck {
            return Ok(entry.principal.clone());
        }
        self.recheck(cache_key, &entry).await
    }

    /// Reads a remembered key's row again; its secret was verified already.
    async fn recheck(&self, cache_key: CacheKey, entry: &Verified) -> Result<Principal, AuthError> {
        match self.find_active(&cache_key.0).await? {
            Some(active) if active.secret_hash == entry.secret_hash => {
                let principal = active.principal.clone();
                self.verified.insert(cache_key, Arc::new(verified(active))).await;
                Ok(principal)
            }
            _ => {
                self.verified.invalidate(&cache_key).await;
                Err(AuthError::Unauthorized)
            }
        }
    }

    fn verify(&self, key: &ApiKey) -> impl Future<Output = Result<Arc<Verified>, AuthError>> + '_ {
        let (id, secret, failed_key) = (key.id().clone(), key.secret().to_owned(), cache_key(key));
        async move {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            // An unknown or revoked id costs no hashing.
            let active = self.find_active(&id).await?.ok_or(AuthError::Unauthorized)?;
            let _permit = self.hashing.acquire().await.expect("the semaphore is never closed");
            let hash = active.secret_hash.clone();
            let matches =
                tokio::task::spawn_blocking(move || verify_secret(&secret, &hash)).await.unwrap_or(false);
            if !matches {
                // The same wrong secret again is refused without hashing.
                self.failed.insert(failed_key, ()).await;
                return Err(AuthError::Unauthorized);
            }
            Ok(Arc::new(verified(active)))
        }
    }

    async fn find_active(&self, id: &KeyId) -> Result<Option<ActiveKey>, StoreError> {
        store::bounded(self.db_timeout, store::keys::find_active(&self.pool, id)).await
    }
}

fn cache_key(key: &ApiKey) -> CacheKey {
    (key.id().clone(), Sha256::digest(key.secret().as_bytes()).into())
}

fn verified(active: ActiveKey) -> Verified {
    Verified { secret_hash: active.secret_hash, principal: active.principal, checked_at: Instant::now() }
}
