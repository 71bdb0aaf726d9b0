use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::json;

use super::{account_named, Admin};
use crate::admin::actions::{self, DEFAULT_ROTATION_GRACE_SECONDS, MAX_ROTATION_GRACE_SECONDS};
use crate::domain::{InvalidInput, Role};
use crate::http::api_schema::AdminErrors;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::AppState;
use crate::store::keys;

/// An account's keys: ids, role, namespace, created, last used; never secrets.
#[utoipa::path(get, path = "/v1/admin/accounts/{account}/keys", operation_id = "list_keys", tag = "admin", params(("account" = String, Path)),
    responses((status = 200, description = "`{\"keys\": [...]}`", body = Object), AdminErrors))]
pub async fn list(state: Data<AppState>, _: Admin, path: Path<String>) -> Result<HttpResponse, ApiError> {
    let account = account_named(&state, &path).await?;
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
#[utoipa::path(post, path = "/v1/admin/accounts/{account}/keys", operation_id = "create_key", tag = "admin", params(("account" = String, Path)),
    request_body(content = CreateBody, content_type = "application/json"),
    responses((status = 201, description = "`{\"key_id\", \"key\", \"account\", \"role\", \"namespace\"}`", body = Object), AdminErrors))]
pub async fn create(
    state: Data<AppState>,
    Admin { actor, .. }: Admin,
    path: Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let role: Role = body.role.as_deref().unwrap_or("client").parse()?;
    let created =
        state.db(actions::create_key(&state.pool, &actor, &path, role, body.namespace.as_deref())).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Revoke a key; every replica refuses it within seconds.
#[utoipa::path(delete, path = "/v1/admin/keys/{key_id}", tag = "admin", params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked"), AdminErrors))]
pub async fn revoke(
    state: Data<AppState>,
    Admin { actor, .. }: Admin,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.db(actions::revoke_key(&state.pool, &actor, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    pub grace_seconds: Option<i64>,
}

/// A rotation's grace period: a day unless given, at most a week.
pub fn parse_grace(grace_seconds: Option<i64>) -> Result<u32, InvalidInput> {
    match grace_seconds {
        None => Ok(DEFAULT_ROTATION_GRACE_SECONDS),
        Some(s) if (0..=i64::from(MAX_ROTATION_GRACE_SECONDS)).contains(&s) => Ok(s as u32),
        Some(_) => {
            let message = format!("grace_seconds must be between 0 and {MAX_ROTATION_GRACE_SECONDS}");
            Err(InvalidInput::new("invalid_grace", message))
        }
    }
}

/// A new key like the old one; the old one keeps working for the grace
/// period (a day unless `grace_seconds` says otherwise, at most a week).
#[utoipa::path(post, path = "/v1/admin/keys/{key_id}/rotate", tag = "admin", params(("key_id" = String, Path)),
    request_body(content = RotateBody, content_type = "application/json"),
    responses((status = 201, description = "The new key, shown once", body = Object), AdminErrors))]
pub async fn rotate(
    state: Data<AppState>,
    Admin { actor, .. }: Admin,
    path: Path<String>,
    JsonBody(body): JsonBody<RotateBody>,
) -> Result<HttpResponse, ApiError> {
    let grace = parse_grace(body.grace_seconds)?;
    let rotated = state.db(actions::rotate_key(&state.pool, &actor, &path, grace)).await?;
    Ok(HttpResponse::Created().json(rotated))
}
