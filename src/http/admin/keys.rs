use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tracing_actix_web::RequestId;

use super::{actor, require_admin};
use crate::admin::actions::{self, DEFAULT_ROTATION_GRACE_SECONDS, MAX_ROTATION_GRACE_SECONDS};
use crate::domain::{InvalidInput, Role};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, JsonBody};
use crate::http::openapi::AdminErrors;
use crate::http::AppState;
use crate::store::{accounts, keys};

/// An account's keys: ids, role, namespace, created, last used; never secrets.
#[utoipa::path(get, path = "/v1/admin/accounts/{account}/keys", tag = "admin", params(("account" = String, Path)),
    responses((status = 200, description = "`{\"keys\": [...]}`", body = Object), AdminErrors))]
pub async fn list(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let account = state
        .db(accounts::record(&state.pool, &path))
        .await?
        .ok_or_else(|| ApiError::Missing("account_not_found", format!("no account named {:?}", *path)))?;
    let keys = state.db(keys::list_for_account(&state.pool, account.id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = KeyCreateBody)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    role: Option<String>,
    namespace: Option<String>,
}

/// Answers the clear key, once; only its hash is kept.
#[utoipa::path(post, path = "/v1/admin/accounts/{account}/keys", tag = "admin", params(("account" = String, Path)),
    request_body(content = CreateBody, content_type = "application/json"),
    responses((status = 201, description = "`{\"key_id\", \"key\", \"account\", \"role\", \"namespace\"}`", body = Object), AdminErrors))]
pub async fn create(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let role: Role = body.role.as_deref().unwrap_or("client").parse()?;
    let actor = actor(&req, &caller, &request_id);
    let created =
        state.db(actions::create_key(&state.pool, &actor, &path, role, body.namespace.as_deref())).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Revoke a key; every replica refuses it within seconds.
#[utoipa::path(delete, path = "/v1/admin/keys/{key_id}", tag = "admin", params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked"), AdminErrors))]
pub async fn revoke(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let actor = actor(&req, &caller, &request_id);
    state.db(actions::revoke_key(&state.pool, &actor, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    grace_seconds: Option<i64>,
}

/// A new key like the old one; the old one keeps working for the grace
/// period (a day unless `grace_seconds` says otherwise, at most a week).
#[utoipa::path(post, path = "/v1/admin/keys/{key_id}/rotate", tag = "admin", params(("key_id" = String, Path)),
    request_body(content = RotateBody, content_type = "application/json"),
    responses((status = 201, description = "The new key, shown once", body = Object), AdminErrors))]
pub async fn rotate(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
    JsonBody(body): JsonBody<RotateBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let grace = match body.grace_seconds {
        None => DEFAULT_ROTATION_GRACE_SECONDS,
        Some(s) if (0..=i64::from(MAX_ROTATION_GRACE_SECONDS)).contains(&s) => s as u32,
        Some(_) => {
            let message = format!("grace_seconds must be between 0 and {MAX_ROTATION_GRACE_SECONDS}");
            return Err(InvalidInput::new("invalid_grace", message).into());
        }
    };
    let actor = actor(&req, &caller, &request_id);
    let rotated = state.db(actions::rotate_key(&state.pool, &actor, &path, grace)).await?;
    Ok(HttpResponse::Created().json(rotated))
}
