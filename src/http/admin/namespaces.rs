use actix_web::web::{Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tracing_actix_web::RequestId;

use super::{actor, limit, require_admin, required};
use crate::admin::actions;
use crate::domain::{InvalidInput, LockError, LockName};
use crate::http::error::ApiError;
use crate::http::extract::{namespace_not_found_unless_valid, Caller, JsonBody};
use crate::http::openapi::AdminErrors;
use crate::http::AppState;
use crate::store::{accounts, admin_log, namespaces};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    account: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// List namespaces, optionally one account's.
#[utoipa::path(get, path = "/v1/admin/namespaces", tag = "admin", params(ListParams),
    responses((status = 200, description = "`{\"namespaces\": [...], \"next_after\"}`", body = Object), AdminErrors))]
pub async fn list(
    state: Data<AppState>,
    Caller(caller): Caller,
    Query(params): Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let limit = limit(params.limit)?;
    let account_id = match &params.account {
        Some(name) => Some(
            state
                .db(accounts::record(&state.pool, name))
                .await?
                .ok_or_else(|| ApiError::Missing("account_not_found", format!("no account named {name:?}")))?
                .id,
        ),
        None => None,
    };
    let found = state.db(namespaces::list(&state.pool, account_id, params.after.as_deref(), limit)).await?;
    let next = (found.len() as i64 == limit).then(|| found.last().map(|n| n.name.clone())).flatten();
    Ok(HttpResponse::Ok().json(json!({ "namespaces": found, "next_after": next })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = NamespaceCreateBody)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: Option<String>,
    account: Option<String>,
}

/// Create a private namespace for a business account.
#[utoipa::path(post, path = "/v1/admin/namespaces", tag = "admin",
    request_body(content = CreateBody, content_type = "application/json"),
    responses((status = 201, description = "The namespace", body = Object), AdminErrors))]
pub async fn create(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let (name, account) = (required(body.name, "name")?, required(body.account, "account")?);
    let actor = actor(&req, &caller, &request_id);
    let created = state.db(actions::create_namespace(&state.pool, &actor, &name, &account)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Deletes a private namespace that holds no live lock and that no key has
/// as its default.
/// Delete a namespace that holds no live lock.
#[utoipa::path(delete, path = "/v1/admin/namespaces/{namespace}", tag = "admin", params(("namespace" = String, Path)),
    responses((status = 204, description = "Deleted"), AdminErrors))]
pub async fn delete(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let actor = actor(&req, &caller, &request_id);
    state.db(actions::delete_namespace(&state.pool, &actor, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForceReleaseBody {
    reason: Option<String>,
}

/// The reason an admin gives: 1 to 500 characters, required.
pub fn parse_reason(reason: Option<String>) -> Result<String, InvalidInput> {
    let reason = reason.map(|r| r.trim().to_owned()).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(InvalidInput::new("invalid_reason", "a reason of 1 to 500 characters is required"));
    }
    Ok(reason)
}

/// Ends whoever's lease, with a reason (in the body or `?reason=`).
#[utoipa::path(delete, path = "/v1/admin/namespaces/{namespace}/locks/{name}", tag = "admin",
    params(("namespace" = String, Path), ("name" = String, Path)),
    request_body(content = ForceReleaseBody, content_type = "application/json"),
    responses((status = 200, description = "`{\"released\", \"reason\"}`, recorded as force_released", body = Object), AdminErrors))]
pub async fn force_release(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<(String, String)>,
    JsonBody(body): JsonBody<ForceReleaseBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let (namespace, name) = path.into_inner();
    let namespace = namespace_not_found_unless_valid(&namespace)?;
    let name = LockName::parse(&name)?;
    let from_query = Query::<ForceReleaseBody>::from_query(req.query_string()).ok().and_then(|q| q.0.reason);
    let reason = parse_reason(body.reason.or(from_query))?;
    state.namespaces.authorize(&caller, namespace.clone(), crate::tenancy::Access::Write).await?;
    let actor = actor(&req, &caller, &request_id);
    let ended = state
        .db(actions::force_release(&state.pool, &actor, &namespace, name.as_str(), &reason))
        .await?
        .ok_or(LockError::NotHeld)?;
    Ok(HttpResponse::Ok().json(json!({ "released": ended, "reason": reason })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    before: Option<i64>,
    limit: Option<i64>,
}

/// The admin log, newest first; `before` pages on.
/// The append-only admin log, newest first.
#[utoipa::path(get, path = "/v1/admin/log", tag = "admin", params(LogParams),
    responses((status = 200, description = "`{\"entries\": [...], \"next_before\"}`", body = Object), AdminErrors))]
pub async fn log(
    state: Data<AppState>,
    Caller(caller): Caller,
    Query(params): Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let limit = limit(params.limit)?;
    let entries = state.db(admin_log::list(&state.pool, params.before, limit)).await?;
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(HttpResponse::Ok().json(json!({ "entries": entries, "next_before": next })))
}
