//! Idempotency-Key handling shared by the lock routes: a retried request with
//! the same key and the same content gets the original outcome; the same key
//! with other content is refused.

use actix_web::HttpRequest;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::domain::{ApiKey, InvalidInput, LockError, LockName, LockToken, NamespaceName, Principal};
use crate::store::idempotency::{self, Record};

/// A claimed Idempotency-Key and what is known of its earlier use.
pub struct Retry {
    pub key: String,
    pub record: Record,
}

/// The request's Idempotency-Key: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        InvalidInput::new(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
        .into()
    })
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

/// Claims the request's Idempotency-Key, or finds its earlier use; `None`
/// when the request has no key.
pub async fn claim(
    state: &AppState,
    caller: &Principal,
    req: &HttpRequest,
    fingerprint: Vec<u8>,
) -> Result<Option<Retry>, ApiError> {
    let Some(key) = idempotency_key(req)? else { return Ok(None) };
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let record =
        state.db(idempotency::claim(&state.pool, &caller.key_id, &key, &fingerprint, &nonce)).await?;
    if record.request_hash != fingerprint {
        return Err(
            LockError::IdempotencyKeyReused("this Idempotency-Key was used for a different request").into()
        );
    }
    Ok(Some(Retry { key, record }))
}

impl Retry {
    pub fn completed(retry: &Option<Retry>) -> bool {
        retry.as_ref().is_some_and(|r| r.record.completed)
    }

    /// The token a grant gets: derived again on every retry of one
    /// Idempotency-Key, random without one.
    pub fn grant_token(retry: &Option<Retry>, key: &ApiKey) -> LockToken {
        match retry {
            Some(retry) => LockToken::derive(key.secret(), &retry.record.nonce),
            None => LockToken::generate(),
        }
    }

    pub fn key(retry: &Option<Retry>) -> Option<&str> {
        retry.as_ref().map(|r| r.key.as_str())
    }
}
