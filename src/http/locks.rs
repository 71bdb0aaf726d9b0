//! The native lock routes. Each handler authenticates, parses, calls the
//! store once and maps the outcome to a response.

use actix_web::http::{header, StatusCode};
use actix_web::web::{Data, Query};
use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tracing_actix_web::RequestId;

use sqlx::types::Json;

use super::dto::{
    AcquireBody, AcquireQuery, HandoverBody, ListParams, LockList, LockView, ReleaseBody, RenewBody,
};
use super::error::ApiError;
use super::extract::{
    lock_token, namespace_not_found_unless_valid, Caller, JsonBody, LockPath, PresentedKey,
};
use super::openapi::{
    ErrorResponse, IdempotencyHeader, LeaseLostError, LockAddress, LockTokenHeader, NamespaceAddress,
    ReadErrors, WriteErrors,
};
use super::peer;
use super::retries::{self, Retry};
use super::AppState;
use crate::domain::{
    InvalidInput, Lock, LockError, LockName, LockToken, LockTokenHash, Metadata, NamespaceName, Owner,
    Principal, Ttl,
};
use crate::store::handover::{self, Handover};
use crate::store::locks::{self, Acquired, Actor, ListQuery, NewLease};
use crate::store::{lease_end, waiters};
use crate::tenancy::Access;

/// Acquire a lock, failing fast or waiting in line.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/locks/{name}", tag = "locks",
    params(LockAddress, ("wait" = Option<i64>, Query, description = "Wait up to this many seconds"), IdempotencyHeader),
    request_body(content = Option<AcquireBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "Granted: the lease, with its lock_token", body = LockView,
            headers(("ETag" = String, description = "The fencing token, quoted"), ("Location" = String))),
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
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Write).await?;
    let rules = state.plans.rules(caller.plan);
    let ttl = rules.lease(body.ttl_seconds.map(Ttl::parse).transpose()?)?;
    let wait = rules.wait(body.wait_seconds.or(wait_in_query(&req)?).unwrap_or(0))?;
    let owner = body.owner.clone().map(Owner::parse).transpose()?;
    let metadata = body.metadata.clone().map(Metadata::parse).transpose()?.flatten();
    if let Some(metadata) = &metadata {
        rules.check_metadata(metadata)?;
    }
    let content = serde_json::to_vec(&(&body, wait.as_secs())).expect("serializable");
    let fingerprint = retries::fingerprint("acquire", &namespace, &path.name, &[&content]);
    let retry = retries::claim(&state, &caller, &req, fingerprint).await?;
    let token = Retry::grant_token(&retry, &key);
    if Retry::completed(&retry) {
        return replay_grant(&state, &caller, &namespace, &path.name, &token).await;
    }
    let lease = NewLease {
        namespace: &namespace,
        name: &path.name,
        token: &token.hash(),
        owner: owner.as_ref(),
        metadata: metadata.as_ref(),
        ttl,
    };
    let request_id = request_id.to_string();
    let actor = Actor { principal: &caller, request_id: Some(&request_id) };
    let attempt = tokio::select! {
        attempt = state.waiting.acquire(&lease, actor, wait, Retry::key(&retry)) => attempt?,
        // Dropping the wait gives its place up (and any grant made meanwhile).
        _ = peer::gone(&req), if !wait.is_zero() => {
            tracing::info!("the waiting client went away");
            return Ok(HttpResponse::new(StatusCode::from_u16(499).expect("a valid status")));
        }
    };
    match attempt.acquired {
        Acquired::Granted(lock) => Ok(granted(lock, &caller, &token)),
        Acquired::Held { lock, retry_after } => Err(ApiError::Held {
            lock: Box::new(LockView::of(lock, &caller).with_waiters(attempt.waiters)),
            retry_after,
        }),
        Acquired::Queued { waiters } => Err(ApiError::Queued { waiters }),
    }
}

/// A TTL a renew or handover asks for, within the caller's plan; `None` keeps
/// the lease's own.
fn new_lease_length(
    state: &AppState,
    caller: &Principal,
    seconds: Option<i64>,
) -> Result<Option<Ttl>, ApiError> {
    let Some(seconds) = seconds else { return Ok(None) };
    Ok(Some(state.plans.rules(caller.plan).lease(Some(Ttl::parse(seconds)?))?))
}

/// `?wait=N`, the query-string form of `wait_seconds`.
fn wait_in_query(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let query = Query::<AcquireQuery>::from_query(req.query_string())
        .map_err(|_| InvalidInput::new("invalid_wait", "wait must be a whole number of seconds"))?;
    Ok(query.into_inner().wait)
}

/// The answer to a retried acquire or handover that was done before: the
/// same grant while its lease lives, else why it ended.
async fn replay_grant(
    state: &AppState,
    caller: &Principal,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockToken,
) -> Result<HttpResponse, ApiError> {
    match state.db(locks::find_held_by(&state.pool, namespace, name, &token.hash())).await? {
        Some(lock) => Ok(granted(lock, caller, token)),
        None => Err(lease_lost(state, namespace, name, &token.hash()).await),
    }
}

fn granted(lock: Lock, caller: &Principal, token: &LockToken) -> HttpResponse {
    let location = format!("/v1/namespaces/{}/locks/{}", lock.namespace, lock.name);
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header(etag(lock.fencing_token))
        .json(LockView::of(lock, caller).with_token(token.reveal()))
}

/// A precise `lease_lost`: why the token no longer holds a lease.
async fn lease_lost(
    state: &AppState,
    namespace: &NamespaceName,
    name: &LockName,
    token: &LockTokenHash,
) -> ApiError {
    match state.db(lease_end::diagnose(&state.pool, namespace, name, token)).await {
        Ok(end) => LockError::LeaseEnded(end).into(),
        Err(_) => LockError::LeaseLost.into(),
    }
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
) -> Result<HttpResponse, ApiError> {
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Read).await?;
    let found = state
        .db(waiters::lock_state(&state.pool, &namespace, &path.name))
        .await?
        .ok_or(LockError::NotHeld)?;
    let (name, value) = etag(found.lock.fencing_token);
    if req.headers().get(header::IF_NONE_MATCH).is_some_and(|tag| tag.as_bytes() == value.as_bytes()) {
        return Ok(HttpResponse::NotModified().insert_header((name, value)).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((name, value))
        .json(LockView::of(found.lock, &caller).with_waiters(found.waiters)))
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
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Write).await?;
    let ttl = new_lease_length(&state, &caller, body.ttl_seconds)?;
    let ttl_part = ttl.map_or(0, |t| t.seconds()).to_be_bytes();
    let fingerprint = retries::fingerprint("renew", &namespace, &path.name, &[&token.0, &ttl_part]);
    let retry = retries::claim(&state, &caller, &req, fingerprint).await?;
    if let Some(Json(renewed)) = retry.as_ref().and_then(|r| r.record.outcome.clone()) {
        return Ok(renewed_response(renewed, &caller));
    }
    let request_id = request_id.to_string();
    let actor = Actor { principal: &caller, request_id: Some(&request_id) };
    let renew =
        locks::renew_with(&state.pool, &namespace, &path.name, &token, ttl, actor, Retry::key(&retry));
    match state.db(renew).await? {
        Some(lock) => Ok(renewed_response(lock, &caller)),
        None => Err(lease_lost(&state, &namespace, &path.name, &token).await),
    }
}

fn renewed_response(lock: Lock, caller: &Principal) -> HttpResponse {
    HttpResponse::Ok().insert_header(etag(lock.fencing_token)).json(LockView::of(lock, caller))
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
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Write).await?;
    let fingerprint = retries::fingerprint("release", &namespace, &path.name, &[&token.0]);
    let retry = retries::claim(&state, &caller, &req, fingerprint).await?;
    if Retry::completed(&retry) {
        return Ok(HttpResponse::NoContent().finish());
    }
    let request_id = request_id.to_string();
    let actor = Actor { principal: &caller, request_id: Some(&request_id) };
    let release = locks::release_with(&state.pool, &namespace, &path.name, &token, actor, Retry::key(&retry));
    match state.db(release).await? {
        Some(_) => Ok(HttpResponse::NoContent().finish()),
        None => Err(lease_lost(&state, &namespace, &path.name, &token).await),
    }
}

/// End a live lease and grant the next one in one step, to pass on.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/locks/{name}/handover", tag = "locks",
    params(LockAddress, LockTokenHeader, IdempotencyHeader),
    request_body(content = Option<HandoverBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "The new lease, with its lock_token and a higher fencing token", body = LockView),
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
    let current = LockToken::presented(&lock_token(&req, body.lock_token.clone())?).hash();
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Write).await?;
    let ttl = new_lease_length(&state, &caller, body.ttl_seconds)?;
    let owner = body.owner.clone().map(Owner::parse).transpose()?;
    let content = serde_json::to_vec(&body).expect("serializable");
    let fingerprint = retries::fingerprint("handover", &namespace, &path.name, &[&current.0, &content]);
    let retry = retries::claim(&state, &caller, &req, fingerprint).await?;
    let next = Retry::grant_token(&retry, &key);
    if Retry::completed(&retry) {
        return replay_grant(&state, &caller, &namespace, &path.name, &next).await;
    }
    let handover = Handover {
        namespace: &namespace,
        name: &path.name,
        current: &current,
        next: &next.hash(),
        owner: owner.as_ref(),
        ttl,
    };
    let request_id = request_id.to_string();
    let actor = Actor { principal: &caller, request_id: Some(&request_id) };
    match state.db(handover::hand_over(&state.pool, &handover, actor, Retry::key(&retry))).await? {
        Some(lock) => Ok(granted(lock, &caller, &next)),
        None => Err(lease_lost(&state, &namespace, &path.name, &current).await),
    }
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
    let namespace = state.namespaces.authorize(&caller, namespace, Access::Read).await?;
    let limit = match params.limit.unwrap_or(100) {
        limit @ 1..=1000 => limit,
        _ => return Err(InvalidInput::new("invalid_limit", "limit must be between 1 and 1000").into()),
    };
    let prefix = params.prefix.filter(|p| !p.is_empty()).map(prefix_range).transpose()?;
    let after = params.cursor.map(|c| decode_cursor(&c)).transpose()?;
    let query = ListQuery {
        namespace: &namespace,
        // In the shared namespace a client lists only its own account's locks.
        account_id: (namespace.is_public() && !caller.sees_all_tenants()).then_some(caller.account_id),
        from: prefix.as_ref().map(|(from, _)| from.as_str()),
        to: prefix.as_ref().map(|(_, to)| to.as_str()),
        after: after.as_deref(),
        limit,
    };
    let found = state.db(locks::list_live(&state.pool, &query)).await?;
    let next_cursor = (found.len() as i64 == limit)
        .then(|| found.last().map(|l| URL_SAFE_NO_PAD.encode(&l.name)))
        .flatten();
    let locks = found.into_iter().map(|lock| LockView::of(lock, &caller)).collect();
    Ok(HttpResponse::Ok().json(LockList { locks, next_cursor }))
}

/// The names a prefix covers, `[prefix, prefix with its last byte + 1)`.
/// Every name byte is ASCII below `~`, so the increment stays ASCII.
fn prefix_range(prefix: String) -> Result<(String, String), ApiError> {
    let valid = prefix.len() <= 255 && prefix.bytes().all(crate::domain::is_name_byte);
    if !valid {
        return Err(
            InvalidInput::new("invalid_prefix", "prefix may contain only lock-name characters").into()
        );
    }
    let mut upper = prefix.clone().into_bytes();
    *upper.last_mut().expect("prefix is not empty") += 1;
    Ok((prefix, String::from_utf8(upper).expect("ASCII")))
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| InvalidInput::new("invalid_cursor", "cursor is not one this server issued").into())
}

fn etag(fencing_token: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{fencing_token}\""))
}
