//! Idempotency-Keys: a retried request with the same key and the same content
//! gets the original outcome; the same key with other content is refused.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Call, LeaseError, Leases};
use crate::domain::{LockError, LockName, LockToken, NamespaceName};
use crate::store::idempotency::{self, Record};

/// A claimed Idempotency-Key and what is known of its earlier use.
pub struct Retry<'a> {
    pub key: &'a str,
    pub record: Record,
}

/// What makes two requests "the same": the operation, the lock and the parts
/// of the request that shape its outcome.
pub fn fingerprint(operation: &str, namespace: &NamespaceName, name: &LockName, parts: &[&[u8]]) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in
        [operation.as_bytes(), namespace.as_str().as_bytes(), name.as_str().as_bytes()].iter().chain(parts)
    {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().to_vec()
}

impl Leases {
    /// Claims the call's Idempotency-Key, or finds its earlier use; `None`
    /// when the call has none (or has no key to scope it to).
    pub(super) async fn claim<'a>(
        &self,
        call: &Call<'a>,
        fingerprint: Vec<u8>,
    ) -> Result<Option<Retry<'a>>, LeaseError> {
        let (Some(key), Some(caller)) = (call.idempotency_key, call.caller) else { return Ok(None) };
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let claim = idempotency::claim(&self.pool, &caller.key_id, key, &fingerprint, &nonce);
        let record = self.db(claim).await?;
        if record.request_hash != fingerprint {
            let reused = "this Idempotency-Key was used for a different request";
            return Err(LockError::IdempotencyKeyReused(reused).into());
        }
        Ok(Some(Retry { key, record }))
    }
}

/// Whether the first request with this key is done.
pub fn completed(retry: &Option<Retry<'_>>) -> bool {
    retry.as_ref().is_some_and(|r| r.record.completed)
}

/// The token a grant gets: derived again on every retry of one
/// Idempotency-Key, random without one.
pub fn grant_token(retry: &Option<Retry<'_>>, call: &Call<'_>) -> LockToken {
    match (retry, call.key) {
        (Some(retry), Some(key)) => LockToken::derive(key.secret(), &retry.record.nonce),
        _ => LockToken::generate(),
    }
}

pub fn key<'a>(retry: &Option<Retry<'a>>) -> Option<&'a str> {
    retry.as_ref().map(|r| r.key)
}
