use actix_web::web::{Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{account_named, next_page, required, Admin};
use crate::admin::actions;
use crate::domain::{page_limit, InvalidInput, LockError, LockName};
use crate::http::api_schema::AdminErrors;
use crate::http::error::ApiError;
use crate::http::extract::{namespace_not_found_unless_valid, JsonBody};
use crate::http::AppState;
use crate::leases::ForceRelease;
use crate::store::{admin_log, namespaces};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    account: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// List namespaces, optionally one account's.
#[utoipa::path(get, path = "/v1/admin/namespaces", operation_id = "list_namespaces", tag = "admin", params(ListParams),
    responses((status = 200, description = "`{\"namespaces\": [...], \"next_after\"}`", body = Object), AdminErrors))]
pub async fn list(
    state: Data<AppState>,
    _: Admin,
    Query(params): Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let account_id = match &params.account {
        Some(name) => Some(account_named(&state, name).await?.id),
        None => None,
    };
    let found = state.db(namespaces::list(&state.pool, account_id, params.after.as_deref(), limit)).await?;
    let next = next_page(&found, limit, |n| n.name.clone());
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
#[utoipa::path(post, path = "/v1/admin/namespaces", operation_id = "create_namespace", tag = "admin",
    request_body(content = CreateBody, content_type = "application/json"),
    responses((status = 201, description = "The namespace", body = Object), AdminErrors))]
pub async fn create(
    state: Data<AppState>,
    Admin { actor, .. }: Admin,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let (name, account) = (required(body.name, "name")?, required(body.account, "account")?);
    let created = state
        .db(actions::create_namespace(&state.pool, state.leases.plans(), &actor, &name, &account))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Deletes a private namespace that holds no live lock and that no key has
/// as its default.
/// Delete a namespace that holds no live lock.
#[utoipa::path(delete, path = "/v1/admin/namespaces/{namespace}", tag = "admin", params(("namespace" = String, Path)),
    responses((status = 204, description = "Deleted"), AdminErrors))]
pub async fn delete(
    state: Data<AppState>,
    Admin { actor, .. }: Admin,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
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
    Admin { caller, actor }: Admin,
    path: Path<(String, String)>,
    JsonBody(body): JsonBody<ForceReleaseBody>,
) -> Result<HttpResponse, ApiError> {
    let (namespace, name) = path.into_inner();
    let namespace = namespace_not_found_unless_valid(&namespace)?;
    let name = LockName::parse(&name)?;
    let from_query = Query::<ForceReleaseBody>::from_query(req.query_string()).ok().and_then(|q| q.0.reason);
    let reason = parse_reason(body.reason.or(from_query))?;
    state.namespaces.authorize(&caller, namespace.clone(), crate::tenancy::Access::Write).await?;
    let force = ForceRelease { namespace: &namespace, name: name.as_str(), reason: &reason };
    let ended = state.leases.force_release(&actor, force).await?.ok_or(LockError::NotHeld)?;
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
    _: Admin,
    Query(params): Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let entries = state.db(admin_log::list(&state.pool, params.before, limit)).await?;
    let next = next_page(&entries, limit, |e| e.id);
    Ok(HttpResponse::Ok().json(json!({ "entries": entries, "next_before": next })))
}
