//! The OpenAPI 3.1 document of the native API, generated from the handlers'
//! annotations and served at `/openapi.json`.

use std::sync::OnceLock;

use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::openapi::path::{Parameter, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

use super::dto::{AcquireBody, HandoverBody, LockList, LockView, ReleaseBody, RenewBody};
use super::{admin, audit, health, locks};

#[derive(OpenApi)]
#[openapi(
    info(title = "Leasehold", description = "A durable lock server backed by PostgreSQL."),
    paths(
        locks::acquire, locks::status, locks::renew, locks::release, locks::handover, locks::list,
        health::healthz, health::readyz,
        audit::search, audit::history,
        admin::accounts::create, admin::accounts::list, admin::accounts::show, admin::accounts::update,
        admin::keys::list, admin::keys::create, admin::keys::revoke, admin::keys::rotate,
        admin::namespaces::list, admin::namespaces::create, admin::namespaces::delete,
        admin::namespaces::force_release, admin::namespaces::log
    ),
    components(schemas(AcquireBody, RenewBody, ReleaseBody, HandoverBody, LockView, LockList, ErrorResponse)),
    modifiers(&Security, &DefaultNamespaceRoutes),
    security(("bearer" = []), ("basic" = [])),
    tags(
        (name = "locks", description = "Acquire, renew, release, hand over and read locks"),
        (name = "audit", description = "Who held what, when, and how it ended"),
        (name = "admin", description = "Accounts, keys and namespaces (admin keys only)")
    )
)]
struct NativeApi;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(NativeApi::openapi)
}

#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// Every error answer: `{"error": {"code", "message", "reason"?}}`, with the
/// lock's state and queue length on a `lock_held` conflict.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    error: ErrorDetail,
    lock: Option<LockView>,
    waiters: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    /// Stable, machine-readable.
    code: String,
    /// For people; may change.
    message: String,
    /// On `lease_lost`: expired, released, superseded or unknown_token.
    reason: Option<String>,
}

/// The lock a path names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct LockAddress {
    /// A namespace you may reach (`public`, or your account's).
    namespace: String,
    /// 1–255 characters of A-Z a-z 0-9 . _ - : @
    name: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct NamespaceAddress {
    namespace: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct LockTokenHeader {
    /// The lease's lock token (or X-Lock-Token, or "lock_token" in the body).
    #[param(rename = "Lock-Token")]
    lock_token: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader {
    /// Makes a retry return the first attempt's outcome (kept 24 h).
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum LeaseLostError {
    /// `lease_lost`: the token holds no live lease; `reason` says why.
    #[response(status = 410)]
    LeaseLost(ErrorResponse),
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// `invalid_json`, `invalid_body`, `invalid_lock_name`, `invalid_ttl`,
    /// `invalid_owner`, `invalid_metadata`, `invalid_wait`,
    /// `missing_lock_token`, `invalid_idempotency_key`.
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: no or bad API key.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `plan_forbids` (the plan does not allow it) or `forbidden` (a read-only key).
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// `namespace_not_found`, also for another tenant's namespace.
    #[response(status = 404)]
    NotFound(ErrorResponse),
    /// `payload_too_large`: the body is over 16 KiB.
    #[response(status = 413)]
    TooLarge(ErrorResponse),
    /// `idempotency_key_reused`: the key was used for a different request.
    #[response(status = 422)]
    Reused(ErrorResponse),
    /// `database_unavailable`, with Retry-After: the outcome is unknown; retry.
    #[response(status = 503)]
    Unavailable(ErrorResponse),
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// `invalid_lock_name`, `invalid_limit`, `invalid_cursor`, `invalid_prefix`, `invalid_query`.
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: no or bad API key.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `database_unavailable`, with Retry-After.
    #[response(status = 503)]
    Unavailable(ErrorResponse),
}

/// The filters of `/v1/audit` and `{lock}/history`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditFilters {
    namespace: Option<String>,
    name: Option<String>,
    /// An account's name (support and admin keys).
    account: Option<String>,
    key_id: Option<String>,
    /// acquired, renewed, released, expired, force_released; repeatable.
    event: Option<Vec<String>>,
    fencing_token: Option<i64>,
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
    /// desc (default) or asc.
    order: Option<String>,
    /// 1 to 1000.
    limit: Option<i64>,
    /// next_cursor of the previous page.
    cursor: Option<String>,
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AdminErrors {
    /// `invalid_body`, `invalid_json`, `invalid_plan`, `invalid_role`, `invalid_grace`, a missing field, ...
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: no or bad API key.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `forbidden`: not an admin key, or the plan does not allow it.
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// The account, key, namespace or lock does not exist.
    #[response(status = 404)]
    NotFound(ErrorResponse),
    /// It exists already, or a namespace still holds locks.
    #[response(status = 409)]
    Conflict(ErrorResponse),
    /// `database_unavailable`, with Retry-After.
    #[response(status = 503)]
    Unavailable(ErrorResponse),
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// Each `/v1/namespaces/{namespace}/locks/{name}...` route also exists as
/// `/v1/locks/{name}...`, in the key's default namespace.
struct DefaultNamespaceRoutes;

impl Modify for DefaultNamespaceRoutes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        const LONG: &str = "/v1/namespaces/{namespace}/locks/{name}";
        let short: Vec<(String, PathItem)> = doc
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                path.strip_prefix(LONG).map(|rest| (format!("/v1/locks/{{name}}{rest}"), item))
            })
            .map(|(path, item)| (path, without_namespace(item.clone())))
            .collect();
        doc.paths.paths.extend(short);
    }
}

fn without_namespace(mut item: PathItem) -> PathItem {
    let operations = [&mut item.get, &mut item.post, &mut item.delete, &mut item.put, &mut item.patch];
    for operation in operations.into_iter().flatten() {
        if let Some(parameters) = operation.parameters.as_mut() {
            parameters.retain(|p: &Parameter| p.name != "namespace");
        }
        if let Some(id) = operation.operation_id.as_mut() {
            id.push_str("_in_default_namespace");
        }
    }
    item
}
