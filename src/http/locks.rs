//! The native lock routes: each handler parses the request, asks the lease
//! engine and renders its outcome.

use actix_web::http::{header, StatusCode};
use actix_web::web::{Data, Query};
use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::api_schema::{
    ErrorResponse, IdempotencyHeader, LeaseLostError, LockAddress, LockTokenHeader, NamespaceAddress,
    ReadErrors, WriteErrors,
};
use super::dto::{
    AcquireBody, AcquireQuery, HandoverBody, HolderView, ListParams, LockList, LockView, ReleaseBody,
    RenewBody,
};
use super::error::ApiError;
use super::extract::{
    idempotency_key, lock_token, namespace_not_found_unless_valid, Caller, JsonBody, LockPath, PresentedKey,
};
use super::peer;
use super::request_id::RequestId;
use super::AppState;
use crate::domain::{
    page_limit, prefix_end, ApiKey, InvalidInput, LockToken, Metadata, Owner, Principal, Proof, Ttl,
};
use crate::domain::{Api, LockMode};
use crate::leases::{
    AcquireRequest, Acquired, Call, Granted, HandoverRequest, LeaseLength, ListPage, LockRef,
};

/// The engine's view of a native request.
pub(super) fn call<'a>(
    req: &'a HttpRequest,
    caller: &'a Principal,
    key: Option<&'a ApiKey>,
    request_id: &'a RequestId,
) -> Result<Call<'a>, ApiError> {
    Ok(Call { idempotency_key: idempotency_key(req)?, ..read_call(req, caller, key, request_id) })
}

/// The same, for a read: no Idempotency-Key.
pub(super) fn read_call<'a>(
    req: &HttpRequest,
    caller: &'a Principal,
    key: Option<&'a ApiKey>,
    request_id: &'a RequestId,
) -> Call<'a> {
    Call {
        caller: Some(caller),
        key,
        api: Api::Native,
        peer: req.peer_addr().map(|a| a.ip()),
        request_id: request_id.as_str(),
        idempotency_key: None,
    }
}

pub(super) fn lock_ref(path: LockPath) -> LockRef {
    LockRef { namespace: path.namespace, name: path.name }
}

/// Acquire a lock, failing fast or waiting in line.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/locks/{name}", tag = "locks",
    params(LockAddress, ("wait" = Option<i64>, Query, description = "Wait up to this many seconds"), IdempotencyHeader),
    request_body(content = Option<AcquireBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "Granted: the lease, with its lock_token", body = LockView,
            headers(("ETag" = String, description = "The fencing token, quoted"),
                ("Fencing-Token" = i64, description = "The fencing token"), ("Location" = String))),
        (status = 409, description = "`lock_held`: the lock's state (no token) and Retry-After", body = ErrorResponse),
        (status = 410, description = "`lease_lost`: a retry (same Idempotency-Key) of an acquire whose lease has since ended; `reason` says how", body = ErrorResponse),
        WriteErrors))]
pub async fn acquire(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    PresentedKey(key): PresentedKey,
    path: LockPath,
    JsonBody(body): JsonBody<AcquireBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let request = AcquireRequest {
        namespace: path.namespace,
        name: path.name,
        ttl: LeaseLength::Asked(body.ttl_seconds.map(Ttl::parse).transpose()?),
        owner: body.owner.map(Owner::parse).transpose()?,
        metadata: body.metadata.map(Metadata::parse).transpose()?.flatten(),
        wait_seconds: body.wait_seconds.or(wait_in_query(&req)?).unwrap_or(0),
        compat: None,
        mode: body.mode.as_deref().map(LockMode::parse).transpose()?.unwrap_or_default(),
    };
    let waits = request.wait_seconds != 0;
    let call = call(&req, &caller, Some(&key), &request_id)?;
    let acquired = tokio::select! {
        acquired = state.leases.acquire(&call, request) => acquired?,
        // Dropping the wait gives its place up (and any grant made meanwhile).
        _ = peer::gone(&req), if waits => return Ok(client_gone()),
    };
    match acquired {
        Acquired::Granted(grant) => Ok(granted(grant, &caller)),
        Acquired::Held { lock, waiters, retry_after } => Err(ApiError::Held {
            lock: Box::new(LockView::of(lock, &caller).with_waiters(waiters)),
            retry_after,
        }),
        Acquired::Queued { waiters, .. } => Err(ApiError::Queued { waiters }),
    }
}

/// The answer no one reads to a waiter whose client went away (nginx's 499).
pub(super) fn client_gone() -> HttpResponse {
    tracing::info!("the waiting client went away");
    HttpResponse::new(StatusCode::from_u16(499).expect("a valid status"))
}

/// `?wait=N`, the query-string form of `wait_seconds`.
pub(super) fn wait_in_query(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let query = Query::<AcquireQuery>::from_query(req.query_string())
        .map_err(|_| InvalidInput::new("invalid_wait", "wait must be a whole number of seconds"))?;
    Ok(query.into_inner().wait)
}

/// A grant: its lease with the lock token, and the fencing token in the
/// `ETag` and `Fencing-Token` headers.
fn granted(grant: Granted, caller: &Principal) -> HttpResponse {
    let Granted { lock, token } = grant;
    let location = format!("/v1/namespaces/{}/locks/{}", lock.namespace, lock.name);
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header(etag(lock.fencing_token))
        .insert_header(fencing_token(lock.fencing_token))
        .json(LockView::of(lock, caller).with_token(token.reveal()))
}

/// Read a lock's live lease and how many wait for it.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/locks/{name}", tag = "locks",
    params(LockAddress, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, description = "The lease, never its token", body = LockView,
            headers(("ETag" = String, description = "The fencing token, quoted"))),
        (status = 304, description = "The lease still has the fencing token given in If-None-Match"),
        (status = 404, description = "`lock_not_held` or `namespace_not_found`", body = ErrorResponse),
        ReadErrors))]
pub async fn status(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let found = state.leases.status(&read_call(&req, &caller, None, &request_id), lock_ref(path)).await?;
    let (name, value) = etag(found.lock.fencing_token);
    if req.headers().get(header::IF_NONE_MATCH).is_some_and(|tag| tag.as_bytes() == value.as_bytes()) {
        return Ok(HttpResponse::NotModified().insert_header((name, value)).finish());
    }
    let namespace = found.lock.namespace.clone();
    let mut view = LockView::of(found.lock, &caller).with_waiters(found.waiters);
    if view.mode == LockMode::Shared {
        let readers = found.readers.iter().map(|h| HolderView::of(h, &namespace, &caller)).collect();
        view = view.with_holders(readers);
    }
    Ok(HttpResponse::Ok().insert_header((name, value)).json(view))
}

/// Extend a live lease; the fencing token stays.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/locks/{name}/renew", tag = "locks",
    params(LockAddress, LockTokenHeader, IdempotencyHeader),
    request_body(content = Option<RenewBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The renewed lease", body = LockView),
        LeaseLostError, WriteErrors))]
pub async fn renew(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    JsonBody(body): JsonBody<RenewBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let token = LockToken::presented(&lock_token(&req, body.lock_token)?).hash();
    let ttl = body.ttl_seconds.map(Ttl::parse).transpose()?;
    let call = call(&req, &caller, None, &request_id)?;
    let lock = state.leases.renew(&call, lock_ref(path), Proof::Token(&token), ttl).await?;
    Ok(HttpResponse::Ok().insert_header(etag(lock.fencing_token)).json(LockView::of(lock, &caller)))
}

/// Release a live lease.
#[utoipa::path(delete, path = "/v1/namespaces/{namespace}/locks/{name}", tag = "locks",
    params(LockAddress, LockTokenHeader, IdempotencyHeader),
    request_body(content = Option<ReleaseBody>, content_type = "application/json"),
    responses(
        (status = 204, description = "Released"),
        LeaseLostError, WriteErrors))]
pub async fn release(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    JsonBody(body): JsonBody<ReleaseBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let token = LockToken::presented(&lock_token(&req, body.lock_token)?).hash();
    let call = call(&req, &caller, None, &request_id)?;
    state.leases.release(&call, lock_ref(path), Proof::Token(&token)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End a live lease and grant the next one in one step, to pass on.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/locks/{name}/handover", tag = "locks",
    params(LockAddress, LockTokenHeader, IdempotencyHeader),
    request_body(content = Option<HandoverBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "The new lease, with its lock_token and a higher fencing token", body = LockView,
            headers(("Fencing-Token" = i64, description = "The new lease's fencing token"))),
        LeaseLostError, WriteErrors))]
pub async fn handover(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    PresentedKey(key): PresentedKey,
    path: LockPath,
    JsonBody(body): JsonBody<HandoverBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let current = LockToken::presented(&lock_token(&req, body.lock_token)?).hash();
    let next = HandoverRequest {
        owner: body.owner.map(Owner::parse).transpose()?,
        ttl: body.ttl_seconds.map(Ttl::parse).transpose()?,
        compat: None,
    };
    let call = call(&req, &caller, Some(&key), &request_id)?;
    let grant = state.leases.hand_over(&call, lock_ref(path), Proof::Token(&current), next).await?;
    Ok(granted(grant, &caller))
}

/// List a namespace's live locks in name order, a page at a time.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/locks", tag = "locks",
    params(NamespaceAddress,
        ("prefix" = Option<String>, Query, description = "Only names starting with this"),
        ("limit" = Option<i64>, Query, description = "1 to 1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page of live locks", body = LockList),
        (status = 404, description = "`namespace_not_found`", body = ErrorResponse),
        ReadErrors))]
pub async fn list(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    Query(params): Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let namespace = namespace_not_found_unless_valid(req.match_info().get("namespace").unwrap_or_default())?;
    let limit = page_limit(params.limit)?;
    let prefix = match params.prefix.filter(|p| !p.is_empty()) {
        Some(prefix) => {
            let end = prefix_end(&prefix)?;
            Some((prefix, end))
        }
        None => None,
    };
    let after = params.cursor.map(|c| decode_cursor(&c)).transpose()?;
    let page = ListPage {
        from: prefix.as_ref().map(|(from, _)| from.as_str()),
        to: prefix.as_ref().map(|(_, to)| to.as_str()),
        after: after.as_deref(),
        limit,
    };
    let found = state.leases.list(&caller, namespace, page).await?;
    let next_cursor = (found.len() as i64 == limit)
        .then(|| found.last().map(|l| URL_SAFE_NO_PAD.encode(&l.name)))
        .flatten();
    let locks = found.into_iter().map(|lock| LockView::of(lock, &caller)).collect();
    Ok(HttpResponse::Ok().json(LockList { locks, next_cursor }))
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| InvalidInput::new("invalid_cursor", "cursor is not one this server issued").into())
}

pub(super) fn etag(fencing_token: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{fencing_token}\""))
}

/// Every API's grant carries its fencing token in this header.
pub(super) fn fencing_token(fencing_token: i64) -> (&'static str, String) {
    ("fencing-token", fencing_token.to_string())
}
