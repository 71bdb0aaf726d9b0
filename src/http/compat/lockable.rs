//! Lockable: `GET` (or `POST`) `/v1/acquire|heartbeat|release/{name}`, each
//! answering 200 `{"response": true|false}`. The holder is the key's account,
//! the lock lives in the key's default namespace, and the lease is the plan's
//! (a plan that lets its keys choose takes `?ttl=SECONDS`).

use actix_web::web::{Data, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::super::api_schema::WriteErrors;
use super::super::error::ApiError;
use super::super::extract::{Caller, LockPath};
use super::super::locks::fencing_token;
use super::super::request_id::RequestId;
use super::super::AppState;
use super::{call, lost};
use crate::domain::{Api, CompatHolder, InvalidInput, LockMode, Principal, Proof, Ttl};
use crate::leases::{AcquireRequest, Acquired, LeaseLength, LockRef};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaseParams {
    /// The lease in seconds, on plans that let keys choose.
    #[param(value_type = Option<i64>)]
    ttl: Option<String>,
}

impl LeaseParams {
    /// `?ttl=`, with an error that names it (not the native `ttl_seconds`).
    fn ttl(&self) -> Result<Option<Ttl>, InvalidInput> {
        let Some(raw) = self.ttl.as_deref() else { return Ok(None) };
        let seconds = raw.parse::<i64>().ok().and_then(|seconds| Ttl::parse(seconds).ok());
        seconds.map(Some).ok_or_else(|| {
            InvalidInput::new(
                "invalid_ttl",
                format!("ttl must be a whole number of seconds from 1 to {}, not {raw:?}", Ttl::MAX_SECONDS),
            )
        })
    }
}

/// Lockable acquire: `{"response": true}` when granted, `false` when held.
#[utoipa::path(get, path = "/v1/acquire/{name}", operation_id = "lockable_acquire", tag = "compat", params(("name" = String, Path), LeaseParams),
    responses((status = 200, description = "`{\"response\": true|false}`; a grant carries `Fencing-Token`", body = Object), WriteErrors))]
pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    Query(params): Query<LeaseParams>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let request = AcquireRequest {
        namespace: path.namespace,
        name: path.name,
        ttl: LeaseLength::Asked(params.ttl()?),
        owner: None,
        metadata: None,
        wait_seconds: 0,
        compat: Some(CompatHolder { api: Api::Lockable, secret_hash: None, mutex_id: None }),
        mode: LockMode::Exclusive,
    };
    match state.leases.acquire(&call(&req, Some(&caller), Api::Lockable, &request_id), request).await? {
        Acquired::Granted(grant) => {
            Ok(HttpResponse::Ok().insert_header(fencing_token(grant.lock.fencing_token)).json(answer(true)))
        }
        Acquired::Held { .. } | Acquired::Queued { .. } => Ok(HttpResponse::Ok().json(answer(false))),
    }
}

/// Renews the lease only when the caller's account holds it through Lockable.
#[utoipa::path(get, path = "/v1/heartbeat/{name}", tag = "compat", params(("name" = String, Path), LeaseParams),
    responses((status = 200, description = "`{\"response\": true|false}`", body = Object), WriteErrors))]
pub async fn heartbeat(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    Query(params): Query<LeaseParams>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let ttl = params.ttl()?;
    let call = call(&req, Some(&caller), Api::Lockable, &request_id);
    let renewed = state.leases.renew(&call, lock(path), holder(&caller), ttl).await;
    Ok(HttpResponse::Ok().json(answer(!lost(renewed.map(drop))?)))
}

/// Lets the lease go only when the caller's account holds it through Lockable.
#[utoipa::path(get, path = "/v1/release/{name}", operation_id = "lockable_release", tag = "compat", params(("name" = String, Path)),
    responses((status = 200, description = "`{\"response\": true|false}`", body = Object), WriteErrors))]
pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let call = call(&req, Some(&caller), Api::Lockable, &request_id);
    let released = state.leases.release(&call, lock(path), holder(&caller)).await;
    Ok(HttpResponse::Ok().json(answer(!lost(released)?)))
}

fn lock(path: LockPath) -> LockRef {
    LockRef { namespace: path.namespace, name: path.name }
}

/// A Lockable holder is the account that took the lease through Lockable.
fn holder(caller: &Principal) -> Proof<'static> {
    Proof::Compat {
        api: Api::Lockable,
        account_id: Some(caller.account_id),
        secret_hash: None,
        mutex_id: None,
    }
}

fn answer(response: bool) -> serde_json::Value {
    serde_json::json!({ "response": response })
}
