//! Lockable: `GET` (or `POST`) `/v1/acquire|heartbeat|release/{name}`, each
//! answering 200 `{"response": true|false}`. The holder is the key's account,
//! the lock lives in the key's default namespace, and the lease is the plan's
//! (a plan that lets its keys choose takes `?ttl=SECONDS`).

use actix_web::web::{Data, Query};
use actix_web::HttpResponse;
use serde::Deserialize;
use tracing_actix_web::RequestId;

use super::super::error::ApiError;
use super::super::extract::{Caller, LockPath};
use super::super::AppState;
use crate::domain::{Principal, Ttl};
use crate::store::compat::{self, Acquired, CompatActor, CompatApi, CompatLease, Holder, Released};
use crate::store::StoreError;
use crate::tenancy::Access;

#[derive(Debug, Deserialize)]
pub struct LeaseParams {
    ttl: Option<i64>,
}

pub async fn acquire(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    Query(params): Query<LeaseParams>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Write).await?;
    let ttl = lease(&state, &caller, params.ttl)?
        .unwrap_or_else(|| Ttl::from_seconds(state.plans.rules(caller.plan).default_ttl_seconds));
    let lease = CompatLease {
        namespace: &namespace,
        name: &path.name,
        ttl,
        metadata: None,
        api: CompatApi::Lockable,
        secret_hash: None,
        id: None,
        replaces: None,
    };
    let request_id = request_id.to_string();
    let actor = CompatActor { principal: Some(&caller), client_addr: None, request_id: Some(&request_id) };
    match state.db(compat::acquire(&state.pool, &lease, actor)).await? {
        Acquired::Granted(_) => Ok(answer(true)),
        Acquired::Held { .. } | Acquired::Queued { .. } => Ok(answer(false)),
        Acquired::Contended => Err(StoreError::TimedOut.into()),
    }
}

/// Renews the lease only when the caller's account holds it through Lockable.
pub async fn heartbeat(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    Query(params): Query<LeaseParams>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Write).await?;
    let ttl = lease(&state, &caller, params.ttl)?;
    let request_id = request_id.to_string();
    let renew =
        compat::renew_by_account(&state.pool, &namespace, &path.name, ttl, &caller, Some(&request_id));
    Ok(answer(state.db(renew).await?))
}

/// Lets the lease go only when the caller's account holds it through Lockable.
pub async fn release(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Write).await?;
    let holder =
        Holder { api: CompatApi::Lockable, account_id: Some(caller.account_id), secret_hash: None, id: None };
    let request_id = request_id.to_string();
    let actor = CompatActor { principal: Some(&caller), client_addr: None, request_id: Some(&request_id) };
    let released = state.db(compat::release(&state.pool, &namespace, &path.name, holder, actor)).await?;
    Ok(answer(matches!(released, Released::Released)))
}

/// A chosen lease, checked against the plan.
fn lease(state: &AppState, caller: &Principal, ttl: Option<i64>) -> Result<Option<Ttl>, ApiError> {
    let Some(seconds) = ttl else { return Ok(None) };
    Ok(Some(state.plans.rules(caller.plan).lease(Some(Ttl::parse(seconds)?))?))
}

fn answer(response: bool) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "response": response }))
}
