//! Drop-in compatibility with three hosted lock APIs: Lockable
//! (`/v1/acquire|heartbeat|release/{name}`), Locklock (`/lock/uuid/{uuid}`,
//! `/lock/key/{name}`) and mutex.uno (`/api/{key}`). Each module parses its
//! API's requests, asks the lease engine, and renders the outcome as that API
//! documents it. Their leases are ordinary leases: a lock taken through any
//! API is held for all of them and for the native API, with the same fencing
//! tokens, plans and audit trail. How each API proves its holder is
//! `domain::Proof`.

pub(crate) mod lockable;
pub(crate) mod locklock;
pub(crate) mod mutex_uno;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, HttpRequest};
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::Caller;
use super::request_id::RequestId;
use super::serving;
use crate::domain::{Api, LockError, Principal};
use crate::leases::{Call, LeaseError};

/// Every answer is about the lock's state at that moment, and Lockable's
/// GETs change it: no cache may keep one.
pub fn routes(cfg: &mut ServiceConfig) {
    let resource =
        |path: &str| web::resource(path).wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store")));
    let locklock = |path: &str| {
        resource(path)
            .route(web::post().to(locklock::acquire))
            .route(web::delete().to(locklock::release))
            .route(web::get().to(locklock::status))
            .default_service(serving("GET, POST, DELETE"))
    };
    // Lockable documents GET; POST is accepted too.
    cfg.service(
        resource("/v1/acquire/{name}")
            .route(web::get().to(lockable::acquire))
            .route(web::post().to(lockable::acquire))
            .default_service(serving("GET, POST")),
    )
    .service(
        resource("/v1/heartbeat/{name}")
            .route(web::get().to(lockable::heartbeat))
            .route(web::post().to(lockable::heartbeat))
            .default_service(serving("GET, POST")),
    )
    .service(
        resource("/v1/release/{name}")
            .route(web::get().to(lockable::release))
            .route(web::post().to(lockable::release))
            .default_service(serving("GET, POST")),
    )
    .service(locklock("/lock/uuid/{uuid}"))
    .service(locklock("/lock/key/{name}"))
    .service(
        resource("/api/{name}")
            .route(web::post().to(mutex_uno::acquire))
            .route(web::delete().to(mutex_uno::release))
            .route(web::get().to(mutex_uno::status))
            .default_service(serving("GET, POST, DELETE")),
    );
}

/// The caller when it presents credentials (which must then be valid), or
/// `None` when it presents none: those APIs may serve anonymous callers.
async fn presented_caller(req: &HttpRequest) -> Result<Option<Principal>, ApiError> {
    if !req.headers().contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    Ok(Some(Caller::extract(req).await?.0))
}

/// The key's principal, or no one when `anonymous` callers are served.
fn caller_or_anonymous(caller: Option<Principal>, anonymous: bool) -> Result<Option<Principal>, ApiError> {
    match caller {
        None if !anonymous => Err(ApiError::Unauthorized),
        caller => Ok(caller),
    }
}

/// The engine's view of a compatibility request. An anonymous caller's
/// audit rows record its TCP peer's address (forwarding headers are not
/// trusted).
fn call<'a>(
    req: &HttpRequest,
    caller: Option<&'a Principal>,
    api: Api,
    request_id: &'a RequestId,
) -> Call<'a> {
    let peer = req.peer_addr().map(|a| a.ip());
    Call { caller, key: None, api, peer, request_id: request_id.as_str(), idempotency_key: None }
}

/// Whether a renew or release found no lease of the caller's: none at all,
/// or another holder's. Other errors stay errors.
fn lost(outcome: Result<(), LeaseError>) -> Result<bool, ApiError> {
    match outcome {
        Ok(()) => Ok(false),
        Err(LeaseError::HeldByAnother(_) | LeaseError::Refused(LockError::NotHeld)) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// ISO 8601 with milliseconds and `Z`, as mutex.uno writes timestamps.
fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stable, v4-shaped id for a lease that has no mutex.uno id of its own
/// (one taken through another API), so mutex.uno clients can still name it.
fn derived_id(namespace: &str, name: &str, fencing_token: i64) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"leasehold-mutex-uno-id\0")
        .chain_update(namespace.as_bytes())
        .chain_update(b"\0")
        .chain_update(name.as_bytes())
        .chain_update(fencing_token.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_v4_shaped_and_stable_per_lease() {
        let id = derived_id("public", "a", 7);
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(id, derived_id("public", "a", 7));
        assert_ne!(id, derived_id("public", "a", 8));
        assert_ne!(id, derived_id("public", "b", 7));
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T08:00:01.234567Z").unwrap().to_utc();
        assert_eq!(millis(at), "2026-11-23T08:00:01.234Z");
    }
}
