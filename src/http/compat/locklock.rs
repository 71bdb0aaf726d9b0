//! Locklock: `POST` acquires, `DELETE` releases and `GET` reads
//! `/lock/uuid/{uuid}` (the public namespace; anonymous callers too, when
//! `compat.locklock.anonymous` is on) and `/lock/key/{name}` (the key's own
//! namespace, for plans with private namespaces). A secret given at acquire is
//! needed to release; it is stored only as a hash.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::super::api_schema::WriteErrors;
use super::super::error::{error_body, ApiError};
use super::super::extract::JsonBody;
use super::super::locks::fencing_token;
use super::super::request_id::RequestId;
use super::super::AppState;
use super::{call, caller_or_anonymous, presented_caller};
use crate::domain::{
    Api, CompatHolder, InvalidInput, Lock, LockError, LockMode, LockName, Metadata, NamespaceName, Principal,
    Proof, Ttl,
};
use crate::leases::{AcquireRequest, Acquired, LeaseError, LeaseLength, LockRef};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = LocklockAcquireBody)]
#[serde(deny_unknown_fields)]
pub struct AcquireBody {
    secret: Option<String>,
    expires_in: Option<i64>,
    #[schema(value_type = Option<Object>)]
    data: Option<Box<RawValue>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = LocklockReleaseBody)]
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

#[utoipa::path(post, path = "/lock/key/{name}", operation_id = "locklock_acquire", tag = "compat", params(("name" = String, Path)),
    request_body(content = Option<AcquireBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "Locklock acquire: `{\"id\", \"acquired_at\", \"expires_at\", \"data\"}`, with `Fencing-Token`", body = Object),
        (status = 409, description = "`lock_held`, with `expires_at` and Retry-After", body = Object), WriteErrors))]
pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    JsonBody(body): JsonBody<AcquireBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let target = target(&req, &state).await?;
    let ttl = expires_in(&state, target.caller.as_ref(), body.expires_in)?;
    let metadata = body.data.map(Metadata::parse).transpose()?.flatten();
    let secret_hash = body.secret.map(|s| secret_hash(&target, &s)).transpose()?;
    let request = AcquireRequest {
        namespace: Some(target.namespace.clone()),
        name: target.name.clone(),
        ttl,
        owner: None,
        metadata,
        wait_seconds: 0,
        compat: Some(CompatHolder { api: Api::Locklock, secret_hash, mutex_id: None }),
        mode: LockMode::Exclusive,
    };
    let call = call(&req, target.caller.as_ref(), Api::Locklock, &request_id);
    match state.leases.acquire(&call, request).await? {
        Acquired::Granted(grant) => Ok(HttpResponse::Created()
            .insert_header(fencing_token(grant.lock.fencing_token))
            .json(view(grant.lock, true))),
        Acquired::Held { lock, retry_after, .. } => Ok(held(Some(lock.expires_at), retry_after)),
        Acquired::Queued { retry_after, .. } => Ok(held(None, retry_after)),
    }
}

/// Locklock's conflict: until when the lock is held, if a lease holds it.
fn held(expires_at: Option<DateTime<Utc>>, retry_after: u32) -> HttpResponse {
    let mut body = error_body("lock_held", "the lock is held");
    body["expires_at"] = serde_json::json!(expires_at);
    HttpResponse::Conflict().insert_header((header::RETRY_AFTER, retry_after.to_string())).json(body)
}

#[utoipa::path(delete, path = "/lock/key/{name}", operation_id = "locklock_release", tag = "compat", params(("name" = String, Path)),
    request_body(content = Option<ReleaseBody>, content_type = "application/json"),
    responses(
        (status = 204, description = "Released"),
        (status = 403, description = "`secret_mismatch`: another secret, or a lease taken through another API", body = Object),
        (status = 404, description = "`lock_not_held`", body = Object), WriteErrors))]
pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    JsonBody(body): JsonBody<ReleaseBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let target = target(&req, &state).await?;
    let secret_hash = body.secret.map(|s| secret_hash(&target, &s)).transpose()?;
    let proof = Proof::Compat {
        api: Api::Locklock,
        account_id: None,
        secret_hash: secret_hash.as_ref(),
        mutex_id: None,
    };
    let call = call(&req, target.caller.as_ref(), Api::Locklock, &request_id);
    let lock = LockRef { namespace: Some(target.namespace), name: target.name };
    match state.leases.release(&call, lock, proof).await {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(LeaseError::HeldByAnother(_)) => Ok(HttpResponse::Forbidden().json(error_body(
            "secret_mismatch",
            "the lock was acquired with a different secret, or through another API",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The lock's state, never its secret; its data only for those who may see it.
#[utoipa::path(get, path = "/lock/key/{name}", operation_id = "locklock_status", tag = "compat", params(("name" = String, Path)),
    responses(
        (status = 200, description = "`{\"id\", \"acquired_at\", \"expires_at\", \"data\"}`", body = Object),
        (status = 404, description = "`lock_not_held`", body = Object), WriteErrors))]
pub async fn status(
    req: HttpRequest,
    state: Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let target = target(&req, &state).await?;
    let call = call(&req, target.caller.as_ref(), Api::Locklock, &request_id);
    let found =
        state.leases.status(&call, LockRef { namespace: Some(target.namespace), name: target.name }).await?;
    let visible = target.caller.as_ref().is_some_and(|c| found.lock.details_visible_to(c));
    Ok(HttpResponse::Ok().json(view(found.lock, visible)))
}

/// `/lock/uuid/{uuid}`: the public namespace, anonymous callers when allowed.
/// `/lock/key/{name}`: the key's namespace, on a plan with private ones.
async fn target(req: &HttpRequest, state: &AppState) -> Result<Target, ApiError> {
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
            if !state.leases.rules(&caller).private_namespaces {
                return Err(LockError::PlanForbids("custom lock names need a business plan".into()).into());
            }
            let name = LockName::parse(info.get("name").unwrap_or_default())?;
            let namespace = caller.namespace.clone();
            (Some(caller), namespace, name)
        }
    };
    Ok(Target { caller, namespace, name })
}

/// Without `expires_in`, the longest lease allowed: the plan's maximum, or
/// `compat.locklock.max_expires_in` for anonymous callers.
fn expires_in(
    state: &AppState,
    caller: Option<&Principal>,
    asked: Option<i64>,
) -> Result<LeaseLength, ApiError> {
    match (caller, asked) {
        (Some(_), None) => Ok(LeaseLength::PlanMaximum),
        (Some(_), Some(seconds)) => Ok(LeaseLength::Asked(Some(Ttl::parse(seconds)?))),
        (None, asked) => {
            let max = state.compat.locklock.max_expires_in;
            match asked.unwrap_or(i64::from(max)) {
                seconds @ 1.. if seconds <= i64::from(max) => {
                    Ok(LeaseLength::Fitted(Ttl::from_seconds(seconds as u32)))
                }
                _ => Err(InvalidInput::new("invalid_ttl", format!("expires_in must be between 1 and {max}"))
                    .into()),
            }
        }
    }
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
