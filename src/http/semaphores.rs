//! The semaphore routes: parse, ask the lease engine, render.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::api_schema::{
    ErrorResponse, IdempotencyHeader, LeaseLostError, LockAddress, LockTokenHeader, ReadErrors, WriteErrors,
};
use super::dto::{HolderView, RenewBody};
use super::error::ApiError;
use super::extract::{lock_token, Caller, JsonBody, LockPath, PresentedKey};
use super::locks::{call, client_gone, etag, fencing_token, lock_ref, read_call, wait_in_query};
use super::peer;
use super::request_id::RequestId;
use super::AppState;
use crate::domain::{Holder, LockError, LockToken, Metadata, Owner, SemaphoreLimit, Ttl};
use crate::leases::{Permit, PermitAcquired, PermitRequest};

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SemaphoreBody {
    /// How many may hold the semaphore at once (1–10000); must match the
    /// live semaphore's.
    pub limit: Option<i64>,
    pub ttl_seconds: Option<i64>,
    pub owner: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    /// Wait up to this long for a permit, in arrival order.
    pub wait_seconds: Option<i64>,
}

/// A permit: `lock_token` only in the answer to the acquire that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitView {
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_token: Option<String>,
    pub fencing_token: i64,
    pub limit: u16,
    /// Live holders, this one included (in the answer to an acquire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holders: Option<i64>,
    pub owner: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ttl_seconds: i32,
}

/// A semaphore's live holders, in grant order.
#[derive(Debug, Serialize, ToSchema)]
pub struct SemaphoreView {
    pub namespace: String,
    pub name: String,
    pub limit: Option<u16>,
    pub holders: Vec<HolderView>,
}

fn permit_view(namespace: &str, name: &str, holder: Holder, limit: u16) -> PermitView {
    PermitView {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        lock_token: None,
        fencing_token: holder.fencing_token,
        limit,
        holders: None,
        owner: holder.owner,
        metadata: holder.metadata,
        acquired_at: holder.acquired_at,
        expires_at: holder.expires_at,
        ttl_seconds: holder.ttl_seconds,
    }
}

/// Take one of a semaphore's permits, failing fast or waiting in line.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/semaphores/{name}", operation_id = "acquire_semaphore", tag = "semaphores",
    params(LockAddress, IdempotencyHeader),
    request_body(content = SemaphoreBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Granted: the permit, with its lock_token", body = PermitView,
            headers(("Fencing-Token" = i64, description = "The fencing token"), ("Location" = String))),
        (status = 409, description = "`semaphore_full` (with Retry-After) or `limit_mismatch`", body = ErrorResponse),
        WriteErrors))]
pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    PresentedKey(key): PresentedKey,
    path: LockPath,
    JsonBody(body): JsonBody<SemaphoreBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let limit = body.limit.ok_or_else(|| {
        LockError::Invalid(crate::domain::InvalidInput::new(
            "invalid_limit",
            "limit is required (1 to 10000)",
        ))
    })?;
    let request = PermitRequest {
        semaphore: lock_ref(path),
        limit: SemaphoreLimit::parse(limit)?,
        ttl: body.ttl_seconds.map(Ttl::parse).transpose()?,
        owner: body.owner.map(Owner::parse).transpose()?,
        metadata: body.metadata.map(Metadata::parse).transpose()?.flatten(),
        wait_seconds: body.wait_seconds.or(wait_in_query(&req)?).unwrap_or(0),
    };
    let waits = request.wait_seconds != 0;
    let call = call(&req, &caller, Some(&key), &request_id)?;
    let acquired = tokio::select! {
        acquired = state.leases.acquire_permit(&call, request) => acquired?,
        // Dropping the wait gives its place up.
        _ = peer::gone(&req), if waits => return Ok(client_gone()),
    };
    match acquired {
        PermitAcquired::Granted { grant, token, namespace } => {
            let name = req.match_info().get("name").unwrap_or_default();
            let location = format!("/v1/namespaces/{namespace}/semaphores/{name}");
            let mut view = permit_view(namespace.as_str(), name, grant.holder, grant.limit);
            view.lock_token = Some(token.reveal().to_owned());
            view.holders = Some(grant.holders);
            Ok(HttpResponse::Created()
                .insert_header((header::LOCATION, location))
                .insert_header(fencing_token(view.fencing_token))
                .json(view))
        }
        PermitAcquired::Full { holders, limit, retry_after } => {
            Err(ApiError::SemaphoreFull { holders, limit, retry_after })
        }
        PermitAcquired::LimitMismatch { limit } => Err(ApiError::LimitMismatch { limit }),
    }
}

/// Read a semaphore's limit and live holders (never their tokens).
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/semaphores/{name}", operation_id = "semaphore_status", tag = "semaphores",
    params(LockAddress),
    responses(
        (status = 200, description = "The live holders; none, and no limit, when it is free", body = SemaphoreView),
        (status = 404, description = "`namespace_not_found`", body = ErrorResponse),
        ReadErrors))]
pub async fn status(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let name = path.name.as_str().to_owned();
    let call = read_call(&req, &caller, None, &request_id);
    let (namespace, found) = state.leases.semaphore(&call, lock_ref(path)).await?;
    let view = SemaphoreView {
        namespace: namespace.as_str().to_owned(),
        name,
        limit: found.as_ref().map(|s| s.limit),
        holders: (found.iter().flat_map(|s| &s.holders))
            .map(|h| HolderView::of(h, namespace.as_str(), &caller))
            .collect(),
    };
    Ok(HttpResponse::Ok().json(view))
}

/// Extend a live permit; its fencing token stays.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/semaphores/{name}/renew", operation_id = "renew_semaphore", tag = "semaphores",
    params(LockAddress, LockTokenHeader),
    request_body(content = Option<RenewBody>, content_type = "application/json"),
    responses((status = 200, description = "The renewed permit", body = PermitView), LeaseLostError, WriteErrors))]
pub async fn renew(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    JsonBody(body): JsonBody<RenewBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let token = LockToken::presented(&lock_token(&req, body.lock_token)?);
    let ttl = body.ttl_seconds.map(Ttl::parse).transpose()?;
    let name = path.name.as_str().to_owned();
    let call = call(&req, &caller, None, &request_id)?;
    let Permit { namespace, holder, limit } =
        state.leases.renew_permit(&call, lock_ref(path), &token, ttl).await?;
    let view = permit_view(namespace.as_str(), &name, holder, limit);
    Ok(HttpResponse::Ok().insert_header(etag(view.fencing_token)).json(view))
}

/// Give a permit back.
#[utoipa::path(delete, path = "/v1/namespaces/{namespace}/semaphores/{name}", operation_id = "release_semaphore", tag = "semaphores",
    params(LockAddress, LockTokenHeader),
    responses((status = 204, description = "Released"), LeaseLostError, WriteErrors))]
pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let token = LockToken::presented(&lock_token(&req, None)?);
    let call = call(&req, &caller, None, &request_id)?;
    state.leases.release_permit(&call, lock_ref(path), &token).await?;
    Ok(HttpResponse::NoContent().finish())
}
