//! Locklock: `POST` acquires, `DELETE` releases and `GET` reads
//! `/lock/uuid/{uuid}` (the public namespace; anonymous callers too, when
//! `compat.locklock.anonymous` is on) and `/lock/key/{name}` (the key's own
//! namespace, for plans with private namespaces). A secret given at acquire is
//! needed to release; it is stored only as a hash.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tracing_actix_web::RequestId;
use uuid::Uuid;

use super::super::error::ApiError;
use super::super::extract::JsonBody;
use super::super::AppState;
use super::{actor, caller_or_anonymous, presented_caller};
use crate::domain::{InvalidInput, Lock, LockError, LockName, Metadata, NamespaceName, Principal, Ttl};
use crate::store::compat::{self, Acquired, CompatApi, CompatLease, Holder, Released};
use crate::store::{locks, StoreError};
use crate::tenancy::Access;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquireBody {
    secret: Option<String>,
    expires_in: Option<i64>,
    data: Option<Box<RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    secret: Option<String>,
}

#[derive(Serialize)]
struct LockState {
    id: String,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    data: Option<Box<RawValue>>,
}

/// The lock a path names, and who is asking.
struct Target {
    caller: Option<Principal>,
    namespace: NamespaceName,
    name: LockName,
}

pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    JsonBody(body): JsonBody<AcquireBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let target = target(&req, &state, Access::Write).await?;
    let ttl = expires_in(&state, target.caller.as_ref(), body.expires_in)?;
    let metadata = data(&state, target.caller.as_ref(), body.data)?;
    let secret_hash = body.secret.map(|s| secret_hash(&target, &s)).transpose()?;
    let lease = CompatLease {
        namespace: &target.namespace,
        name: &target.name,
        ttl,
        metadata: metadata.as_ref(),
        api: CompatApi::Locklock,
        secret_hash: secret_hash.as_ref(),
        id: None,
        replaces: None,
    };
    let request_id = request_id.to_string();
    let actor = actor(&req, target.caller.as_ref(), &request_id);
    match state.db(compat::acquire(&state.pool, &lease, actor)).await? {
        Acquired::Granted(granted) => Ok(HttpResponse::Created().json(view(granted.lock, true))),
        Acquired::Held { lock, retry_after } => {
            Err(ApiError::HeldUntil { expires_at: Some(lock.lock.expires_at), retry_after })
        }
        Acquired::Queued { retry_after } => Err(ApiError::HeldUntil { expires_at: None, retry_after }),
        Acquired::Contended => Err(StoreError::TimedOut.into()),
    }
}

pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    JsonBody(body): JsonBody<ReleaseBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let target = target(&req, &state, Access::Write).await?;
    let secret_hash = body.secret.map(|s| secret_hash(&target, &s)).transpose()?;
    let holder =
        Holder { api: CompatApi::Locklock, account_id: None, secret_hash: secret_hash.as_ref(), id: None };
    let request_id = request_id.to_string();
    let actor = actor(&req, target.caller.as_ref(), &request_id);
    match state.db(compat::release(&state.pool, &target.namespace, &target.name, holder, actor)).await? {
        Released::Released => Ok(HttpResponse::NoContent().finish()),
        Released::Refused(_) => Err(ApiError::SecretMismatch),
        Released::NotHeld => Err(LockError::NotHeld.into()),
    }
}

/// The lock's state, never its secret; its data only for those who may see it.
pub async fn status(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let target = target(&req, &state, Access::Read).await?;
    let lock = state
        .db(locks::find_live(&state.pool, &target.namespace, &target.name))
        .await?
        .ok_or(LockError::NotHeld)?;
    let visible = target.caller.as_ref().is_some_and(|c| lock.details_visible_to(c));
    Ok(HttpResponse::Ok().json(view(lock, visible)))
}

/// `/lock/uuid/{uuid}`: the public namespace, anonymous callers when allowed.
/// `/lock/key/{name}`: the key's namespace, on a plan with private ones.
async fn target(req: &HttpRequest, state: &AppState, access: Access) -> Result<Target, ApiError> {
    let presented = presented_caller(req).await?;
    let info = req.match_info();
    let (caller, namespace, name) = match info.get("uuid") {
        Some(raw) => {
            let uuid = Uuid::parse_str(raw)
                .map_err(|_| InvalidInput::new("invalid_uuid", "the lock id must be a UUID"))?;
            let caller = caller_or_anonymous(presented, state.compat.locklock.anonymous)?;
            let name = LockName::parse(&uuid.hyphenated().to_string())?;
            (caller, NamespaceName::public(), name)
        }
        None => {
            let caller = presented.ok_or(ApiError::Unauthorized)?;
            if !state.plans.rules(caller.plan).private_namespaces {
                return Err(LockError::PlanForbids("custom lock names need a business plan".into()).into());
            }
            let name = LockName::parse(info.get("name").unwrap_or_default())?;
            let namespace = caller.namespace.clone();
            (Some(caller), namespace, name)
        }
    };
    let namespace = match &caller {
        Some(caller) => state.namespaces.authorize(caller, namespace, access).await?,
        None => namespace,
    };
    Ok(Target { caller, namespace, name })
}

/// Without `expires_in`, the longest lease allowed: the plan's maximum, or
/// `compat.locklock.max_expires_in` for anonymous callers.
fn expires_in(state: &AppState, caller: Option<&Principal>, asked: Option<i64>) -> Result<Ttl, ApiError> {
    match (caller, asked) {
        (Some(caller), None) => Ok(Ttl::from_seconds(state.plans.rules(caller.plan).max_ttl_seconds)),
        (Some(caller), Some(seconds)) => {
            Ok(state.plans.rules(caller.plan).lease(Some(Ttl::parse(seconds)?))?)
        }
        (None, asked) => {
            let max = state.compat.locklock.max_expires_in;
            match asked.unwrap_or(i64::from(max)) {
                seconds @ 1.. if seconds <= i64::from(max) => Ok(Ttl::from_seconds(seconds as u32)),
                _ => Err(InvalidInput::new("invalid_ttl", format!("expires_in must be between 1 and {max}"))
                    .into()),
            }
        }
    }
}

/// `data` is metadata, for plans that allow it.
fn data(
    state: &AppState,
    caller: Option<&Principal>,
    raw: Option<Box<RawValue>>,
) -> Result<Option<Metadata>, ApiError> {
    let Some(metadata) = raw.map(Metadata::parse).transpose()?.flatten() else { return Ok(None) };
    let caller = caller.ok_or_else(|| LockError::PlanForbids("data needs a business plan".into()))?;
    state.plans.rules(caller.plan).check_metadata(&metadata)?;
    Ok(Some(metadata))
}

/// SHA-256 of the secret, salted with the lock's identity so that equal
/// secrets on different locks hash differently.
fn secret_hash(target: &Target, secret: &str) -> Result<[u8; 32], ApiError> {
    if secret.is_empty() || secret.len() > 1024 {
        return Err(InvalidInput::new("invalid_secret", "secret must be 1 to 1024 bytes").into());
    }
    Ok(Sha256::new()
        .chain_update(b"leasehold-locklock-secret\0")
        .chain_update(target.namespace.as_str().as_bytes())
        .chain_update(b"\0")
        .chain_update(target.name.as_str().as_bytes())
        .chain_update(b"\0")
        .chain_update(secret.as_bytes())
        .finalize()
        .into())
}

fn view(lock: Lock, data_visible: bool) -> LockState {
    LockState {
        id: lock.name,
        acquired_at: lock.acquired_at,
        expires_at: lock.expires_at,
        data: lock.metadata.filter(|_| data_visible),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target { caller: None, namespace: NamespaceName::public(), name: LockName::parse(name).unwrap() }
    }

    #[test]
    fn a_secret_hashes_the_same_for_its_lock_and_differently_for_another() {
        let hash = secret_hash(&target("a"), "s3cret").unwrap();
        assert_eq!(hash, secret_hash(&target("a"), "s3cret").unwrap());
        assert_ne!(hash, secret_hash(&target("b"), "s3cret").unwrap());
        assert_ne!(hash, secret_hash(&target("a"), "s3cret!").unwrap());
    }

    #[test]
    fn empty_and_huge_secrets_are_refused() {
        for bad in [String::new(), "x".repeat(1025)] {
            assert!(secret_hash(&target("a"), &bad).is_err());
        }
    }
}
