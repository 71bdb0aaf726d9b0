//! mutex.uno: `POST` acquires, `DELETE` releases and `GET` reads `/api/{key}`.
//! A mutex is named by the id of its acquisition, which is also its ETag;
//! `If-Match` makes a replace or a release conditional on it. Callers with a
//! key use its default namespace; anonymous callers, when
//! `compat.mutex_uno.anonymous` is on, the public one. mutex.uno has no
//! leases: a mutex lasts `compat.mutex_uno.ttl_seconds`, within the plan.
//!
//! Answers follow mutex.uno: bodies are `{"id", "timestamp"}` or empty, a
//! database that cannot be reached is 502 and contention on one key is 429.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use tracing_actix_web::RequestId;
use uuid::Uuid;

use super::super::error::ApiError;
use super::super::extract::LockPath;
use super::super::AppState;
use super::{actor, caller_or_anonymous, derived_id, millis, presented_caller};
use crate::domain::{NamespaceName, Principal, Ttl};
use crate::store::compat::{self, Acquired, CompatApi, CompatLease, CompatLock, Holder, Released};
use crate::tenancy::Access;

#[derive(Serialize)]
struct Mutex {
    id: Uuid,
    timestamp: String,
}

pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let if_match = if_match(&req);
    let run = async {
        let (caller, namespace) = target(&req, &state, Access::Write).await?;
        let id = Uuid::new_v4();
        let lease = CompatLease {
            namespace: &namespace,
            name: &path.name,
            ttl: ttl(&state, caller.as_ref()),
            metadata: None,
            api: CompatApi::MutexUno,
            secret_hash: None,
            id: Some(id),
            replaces: if_match,
        };
        let request_id = request_id.to_string();
        let actor = actor(&req, caller.as_ref(), &request_id);
        Ok(match state.db(compat::acquire(&state.pool, &lease, actor)).await? {
            Acquired::Granted(granted) => mutex(HttpResponse::Created(), &granted),
            Acquired::Held { lock, .. } if if_match.is_some() => {
                mutex(HttpResponse::PreconditionFailed(), &lock)
            }
            Acquired::Held { lock, .. } => mutex(HttpResponse::Conflict(), &lock),
            Acquired::Queued { retry_after } => return Err(ApiError::TooManyRequests { retry_after }),
            Acquired::Contended => return Err(ApiError::TooManyRequests { retry_after: 1 }),
        })
    };
    run.await.map_err(ApiError::upstream)
}

pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let (caller, namespace) = target(&req, &state, Access::Write).await?;
        let holder =
            Holder { api: CompatApi::MutexUno, account_id: None, secret_hash: None, id: if_match(&req) };
        let request_id = request_id.to_string();
        let actor = actor(&req, caller.as_ref(), &request_id);
        Ok(match state.db(compat::release(&state.pool, &namespace, &path.name, holder, actor)).await? {
            Released::Released => HttpResponse::NoContent().finish(),
            // A mutex whose If-Match differs, or a lease taken through another API.
            Released::Refused(lock) => mutex(HttpResponse::PreconditionFailed(), &lock),
            Released::NotHeld => HttpResponse::NotFound().finish(),
        })
    };
    run.await.map_err(ApiError::upstream)
}

pub async fn status(
    req: HttpRequest,
    state: Data<AppState>,
    path: LockPath,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let (_, namespace) = target(&req, &state, Access::Read).await?;
        Ok(match state.db(compat::find_live(&state.pool, &namespace, &path.name)).await? {
            Some(lock) => mutex(HttpResponse::Ok(), &lock),
            None => HttpResponse::NotFound().finish(),
        })
    };
    run.await.map_err(ApiError::upstream)
}

async fn target(
    req: &HttpRequest,
    state: &AppState,
    access: Access,
) -> Result<(Option<Principal>, NamespaceName), ApiError> {
    let caller = caller_or_anonymous(presented_caller(req).await?, state.compat.mutex_uno.anonymous)?;
    let namespace = match &caller {
        Some(caller) => state.namespaces.authorize(caller, caller.namespace.clone(), access).await?,
        None => NamespaceName::public(),
    };
    Ok((caller, namespace))
}

/// The configured lease, within the caller's plan.
fn ttl(state: &AppState, caller: Option<&Principal>) -> Ttl {
    let seconds = state.compat.mutex_uno.ttl_seconds;
    Ttl::from_seconds(match caller {
        Some(caller) => {
            let rules = state.plans.rules(caller.plan);
            seconds.clamp(rules.min_ttl_seconds, rules.max_ttl_seconds)
        }
        None => seconds,
    })
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
fn mutex(mut response: HttpResponseBuilder, lease: &CompatLock) -> HttpResponse {
    let lock = &lease.lock;
    let id = match (lease.api, lease.id) {
        (Some(CompatApi::MutexUno), Some(id)) => id,
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
