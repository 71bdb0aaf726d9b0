//! mutex.uno: `POST` acquires, `DELETE` releases and `GET` reads `/api/{key}`.
//! A mutex is named by the id of its acquisition, which is also its ETag;
//! `If-Match` makes a replace or a release conditional on it. Callers with a
//! key use its default namespace; anonymous callers, when
//! `compat.mutex_uno.anonymous` is on, the public one. mutex.uno has no
//! leases: a mutex lasts `compat.mutex_uno.ttl_seconds`, within the plan.
//!
//! Answers follow mutex.uno: bodies are `{"id", "timestamp"}` or empty, a
//! database that cannot be reached is 502 and contention on one key is 429.

use actix_web::http::{header, StatusCode};
use actix_web::web::Data;
use actix_web::ResponseError;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use uuid::Uuid;

use super::super::api_schema::MutexUnoErrors;
use super::super::error::{error_body, ApiError};
use super::super::extract::LockPath;
use super::super::locks::fencing_token;
use super::super::request_id::RequestId;
use super::super::AppState;
use super::{call, caller_or_anonymous, derived_id, millis, presented_caller};
use crate::domain::{Api, CompatHolder, Lock, LockError, LockMode, Principal, Proof, Ttl};
use crate::leases::{AcquireRequest, Acquired, Call, HandoverRequest, LeaseError, LeaseLength, LockRef};

#[derive(Serialize)]
struct Mutex {
    id: Uuid,
    timestamp: String,
}

/// Take the mutex; with `If-Match`, replace the live mutex of that id.
#[utoipa::path(post, path = "/api/{key}", operation_id = "mutex_uno_acquire", tag = "compat", params(("key" = String, Path)),
    responses(
        (status = 201, description = "mutex.uno acquire: `{\"id\", \"timestamp\"}`, the id also the ETag; with `Fencing-Token`", body = Object),
        (status = 409, description = "Held: the live mutex", body = Object),
        (status = 412, description = "`If-Match` names another mutex: the live one", body = Object),
        (status = 429, description = "`too_many_requests`: reserved for queued waiters", body = Object),
        (status = 502, description = "`database_unavailable`", body = Object), MutexUnoErrors))]
pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    upstream(async {
        let caller = caller(&req, &state).await?;
        let call = call(&req, caller.as_ref(), Api::MutexUno, &request_id);
        let lock = LockRef { namespace: None, name: path.name };
        let holder = CompatHolder { api: Api::MutexUno, secret_hash: None, mutex_id: Some(Uuid::new_v4()) };
        let if_match = if_match(&req);
        if let Some(id) = if_match {
            match replace(&state, &call, lock.clone(), id, holder).await {
                Err(LeaseError::Refused(LockError::NotHeld)) => {}
                replaced => return replaced.map_err(ApiError::from),
            }
        }
        let request = AcquireRequest {
            namespace: lock.namespace,
            name: lock.name,
            ttl: LeaseLength::Fitted(Ttl::from_seconds(state.compat.mutex_uno.ttl_seconds)),
            owner: None,
            metadata: None,
            wait_seconds: 0,
            compat: Some(holder),
            mode: LockMode::Exclusive,
        };
        Ok(match state.leases.acquire(&call, request).await? {
            Acquired::Granted(grant) => mutex(
                HttpResponse::Created().insert_header(fencing_token(grant.lock.fencing_token)),
                &grant.lock,
            ),
            Acquired::Held { lock, .. } if if_match.is_some() => {
                mutex(&mut HttpResponse::PreconditionFailed(), &lock)
            }
            Acquired::Held { lock, .. } => mutex(&mut HttpResponse::Conflict(), &lock),
            Acquired::Queued { retry_after, .. } => too_many_requests(retry_after),
        })
    })
    .await
}

/// `If-Match` on a live mutex: it is handed over to the caller in one step,
/// recorded as its release and a new acquisition. A lock without a live
/// lease is `NotHeld`, for a plain acquire to take.
async fn replace(
    state: &AppState,
    call: &Call<'_>,
    lock: LockRef,
    id: Uuid,
    holder: CompatHolder,
) -> Result<HttpResponse, LeaseError> {
    let proof = Proof::Compat { api: Api::MutexUno, account_id: None, secret_hash: None, mutex_id: Some(id) };
    let next = HandoverRequest { owner: None, ttl: None, compat: Some(holder) };
    match state.leases.hand_over(call, lock, proof, next).await {
        Ok(grant) => Ok(mutex(
            HttpResponse::Created().insert_header(fencing_token(grant.lock.fencing_token)),
            &grant.lock,
        )),
        Err(LeaseError::HeldByAnother(lock)) => Ok(mutex(&mut HttpResponse::PreconditionFailed(), &lock)),
        Err(e) => Err(e),
    }
}

/// Let the mutex go; with `If-Match`, only the mutex of that id.
#[utoipa::path(delete, path = "/api/{key}", operation_id = "mutex_uno_release", tag = "compat", params(("key" = String, Path)),
    responses(
        (status = 204, description = "Released"),
        (status = 404, description = "No live mutex"),
        (status = 412, description = "Another mutex (or a lease of another API) holds the key: the live one", body = Object),
        (status = 502, description = "`database_unavailable`", body = Object), MutexUnoErrors))]
pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    upstream(async {
        let caller = caller(&req, &state).await?;
        let call = call(&req, caller.as_ref(), Api::MutexUno, &request_id);
        let lock = LockRef { namespace: None, name: path.name };
        let proof = Proof::Compat {
            api: Api::MutexUno,
            account_id: None,
            secret_hash: None,
            mutex_id: if_match(&req),
        };
        Ok(match state.leases.release(&call, lock, proof).await {
            Ok(()) => HttpResponse::NoContent().finish(),
            // A mutex whose If-Match differs, or a lease taken through another API.
            Err(LeaseError::HeldByAnother(lock)) => mutex(&mut HttpResponse::PreconditionFailed(), &lock),
            Err(LeaseError::Refused(LockError::NotHeld)) => HttpResponse::NotFound().finish(),
            Err(e) => return Err(e.into()),
        })
    })
    .await
}

/// The live mutex.
#[utoipa::path(get, path = "/api/{key}", operation_id = "mutex_uno_status", tag = "compat", params(("key" = String, Path)),
    responses(
        (status = 200, description = "`{\"id\", \"timestamp\"}`", body = Object),
        (status = 404, description = "No live mutex"),
        (status = 502, description = "`database_unavailable`", body = Object), MutexUnoErrors))]
pub async fn status(
    req: HttpRequest,
    state: Data<AppState>,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    upstream(async {
        let caller = caller(&req, &state).await?;
        let call = call(&req, caller.as_ref(), Api::MutexUno, &request_id);
        let lock = LockRef { namespace: None, name: path.name };
        Ok(match state.leases.status(&call, lock).await {
            Ok(found) => mutex(&mut HttpResponse::Ok(), &found.lock),
            Err(LeaseError::Refused(LockError::NotHeld)) => HttpResponse::NotFound().finish(),
            Err(e) => return Err(e.into()),
        })
    })
    .await
}

/// mutex.uno answers 502 where the other APIs answer 503.
async fn upstream(
    work: impl std::future::Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    match work.await {
        Err(ApiError::Store(error)) if error.is_unavailable() => {
            tracing::warn!(error = ?ApiError::Store(error), "database unavailable");
            let body = error_body("database_unavailable", "the database is unavailable; retry shortly");
            Ok(HttpResponse::BadGateway().insert_header((header::RETRY_AFTER, "1")).json(body))
        }
        // mutex.uno's 404 has no body, whatever is not found.
        Err(error) if error.status_code() == StatusCode::NOT_FOUND => Ok(HttpResponse::NotFound().finish()),
        other => other,
    }
}

/// mutex.uno's 429: the key is free but reserved for earlier waiters.
fn too_many_requests(retry_after: u32) -> HttpResponse {
    let body = error_body("too_many_requests", "too many requests for this lock; retry shortly");
    HttpResponse::TooManyRequests().insert_header((header::RETRY_AFTER, retry_after.to_string())).json(body)
}

/// The caller with a key, or no one when anonymous callers are served.
async fn caller(req: &HttpRequest, state: &AppState) -> Result<Option<Principal>, ApiError> {
    caller_or_anonymous(presented_caller(req).await?, state.compat.mutex_uno.anonymous)
}

/// The mutex id an `If-Match` names; one that names no mutex matches none.
fn if_match(req: &HttpRequest) -> Option<Uuid> {
    let value = req.headers().get(header::IF_MATCH)?;
    let tag = value.to_str().unwrap_or_default().trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
    Some(Uuid::parse_str(tag).unwrap_or(Uuid::nil()))
}

/// A mutex's body, `ETag` and `Last-Modified` (the same ISO 8601 timestamp
/// as the body's, as mutex.uno describes it).
fn mutex(response: &mut HttpResponseBuilder, lock: &Lock) -> HttpResponse {
    let id = match (lock.api, lock.mutex_id) {
        (Api::MutexUno, Some(id)) => id,
        _ => derived_id(&lock.namespace, &lock.name, lock.fencing_token),
    };
    let timestamp = millis(lock.acquired_at);
    response
        .insert_header((header::ETAG, format!("\"{id}\"")))
        .insert_header((header::LAST_MODIFIED, timestamp.clone()))
        .json(Mutex { id, timestamp })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn tag(value: &str) -> Option<Uuid> {
        if_match(&TestRequest::default().insert_header((header::IF_MATCH, value)).to_http_request())
    }

    #[test]
    fn if_match_names_one_mutex_or_none() {
        let id = Uuid::new_v4();
        assert_eq!(tag(&format!("\"{id}\"")), Some(id));
        assert_eq!(tag(&format!("W/\"{id}\"")), Some(id));
        assert_eq!(tag(&id.to_string()), Some(id));
        assert_eq!(tag("*"), Some(Uuid::nil()));
        assert_eq!(if_match(&TestRequest::default().to_http_request()), None);
    }
}
