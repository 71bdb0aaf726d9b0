//! The lock-set routes: parse, ask the lease engine, render.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::api_schema::{ErrorResponse, IdempotencyHeader, LeaseLostError, LockTokenHeader, WriteErrors};
use super::dto::RenewBody;
use super::error::ApiError;
use super::extract::{lock_token, namespace_not_found_unless_valid, Caller, JsonBody, PresentedKey};
use super::locks::{call, client_gone, wait_in_query};
use super::peer;
use super::request_id::RequestId;
use super::AppState;
use crate::domain::{InvalidInput, LockName, LockToken, NamespaceName, Owner, Ttl};
use crate::leases::{SetAcquired, SetRequest};
use crate::store::lock_sets::Member;

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockSetBody {
    /// 2 to 64 distinct lock names, in any order.
    pub names: Option<Vec<String>>,
    pub ttl_seconds: Option<i64>,
    pub owner: Option<String>,
    /// Wait up to this long for every member to be free, in arrival order.
    pub wait_seconds: Option<i64>,
}

/// A granted or renewed set; `lock_token` only in the answer to the acquire.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockSetView {
    #[schema(value_type = String, format = "uuid")]
    pub set_id: Uuid,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_token: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The lease length every member was granted or renewed for.
    pub ttl_seconds: i32,
    pub locks: Vec<MemberView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub name: String,
    pub fencing_token: i64,
}

/// The set a path names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SetAddress {
    /// The namespace (the un-namespaced route uses the caller's default).
    #[allow(dead_code)]
    namespace: String,
    /// The set's id, from its grant.
    #[allow(dead_code)]
    #[param(value_type = String, format = "uuid")]
    set_id: Uuid,
}

fn view(set_id: Uuid, namespace: &NamespaceName, members: Vec<Member>) -> LockSetView {
    LockSetView {
        set_id,
        namespace: namespace.as_str().to_owned(),
        lock_token: None,
        expires_at: members.iter().map(|m| m.expires_at).min().unwrap_or_default(),
        ttl_seconds: members.iter().map(|m| m.ttl_seconds).min().unwrap_or_default(),
        locks: members
            .into_iter()
            .map(|m| MemberView { name: m.name, fencing_token: m.fencing_token })
            .collect(),
    }
}

fn path_namespace(req: &HttpRequest) -> Result<Option<NamespaceName>, ApiError> {
    req.match_info().get("namespace").map(namespace_not_found_unless_valid).transpose()
}

fn path_set_id(req: &HttpRequest) -> Result<Uuid, ApiError> {
    let raw = req.match_info().get("set_id").unwrap_or_default();
    // An id that cannot exist names no set, like an unknown one.
    Uuid::parse_str(raw).map_err(|_| ApiError::from(crate::domain::LockError::LeaseLost))
}

/// Take every lock of a set, or none.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/lock-sets", operation_id = "acquire_lock_set", tag = "lock-sets",
    params(("namespace" = String, Path, description = "The namespace"), IdempotencyHeader),
    request_body(content = LockSetBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Every member granted, each with its fencing token", body = LockSetView,
            headers(("Location" = String))),
        (status = 409, description = "`lock_held`: `held` names the members held; nothing was taken", body = ErrorResponse),
        WriteErrors))]
pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    PresentedKey(key): PresentedKey,
    JsonBody(body): JsonBody<LockSetBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let names = body.names.ok_or_else(|| InvalidInput::new("invalid_names", "names is required"))?;
    let request = SetRequest {
        namespace: path_namespace(&req)?,
        names: names.iter().map(|n| LockName::parse(n)).collect::<Result<_, _>>()?,
        ttl: body.ttl_seconds.map(Ttl::parse).transpose()?,
        owner: body.owner.map(Owner::parse).transpose()?,
        wait_seconds: body.wait_seconds.or(wait_in_query(&req)?).unwrap_or(0),
    };
    let waits = request.wait_seconds != 0;
    let call = call(&req, &caller, Some(&key), &request_id)?;
    let acquired = tokio::select! {
        acquired = state.leases.acquire_set(&call, request) => acquired?,
        // Dropping the wait gives its place up.
        _ = peer::gone(&req), if waits => return Ok(client_gone()),
    };
    match acquired {
        SetAcquired::Granted { set_id, token, namespace, members } => {
            let location = format!("/v1/namespaces/{namespace}/lock-sets/{set_id}");
            let mut view = view(set_id, &namespace, members);
            view.lock_token = Some(token.reveal().to_owned());
            Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(view))
        }
        SetAcquired::Held { held, retry_after } => Err(ApiError::SetHeld { held, retry_after }),
    }
}

/// Extend every member of a set.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/lock-sets/{set_id}/renew", operation_id = "renew_lock_set", tag = "lock-sets",
    params(SetAddress, LockTokenHeader),
    request_body(content = Option<RenewBody>, content_type = "application/json"),
    responses((status = 200, description = "The renewed set", body = LockSetView), LeaseLostError, WriteErrors))]
pub async fn renew(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<RenewBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let (namespace, set_id) = (path_namespace(&req)?, path_set_id(&req)?);
    let token = LockToken::presented(&lock_token(&req, body.lock_token)?);
    let ttl = body.ttl_seconds.map(Ttl::parse).transpose()?;
    let call = call(&req, &caller, None, &request_id)?;
    let (namespace, members) = state.leases.renew_set(&call, namespace, set_id, &token, ttl).await?;
    Ok(HttpResponse::Ok().json(view(set_id, &namespace, members)))
}

/// Release every member of a set.
#[utoipa::path(delete, path = "/v1/namespaces/{namespace}/lock-sets/{set_id}", operation_id = "release_lock_set", tag = "lock-sets",
    params(SetAddress, LockTokenHeader),
    responses((status = 204, description = "Released"), LeaseLostError, WriteErrors))]
pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let (namespace, set_id) = (path_namespace(&req)?, path_set_id(&req)?);
    let token = LockToken::presented(&lock_token(&req, None)?);
    let call = call(&req, &caller, None, &request_id)?;
    state.leases.release_set(&call, namespace, set_id, &token).await?;
    Ok(HttpResponse::NoContent().finish())
}
